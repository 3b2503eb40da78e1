package dev.extend.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.extend.spi.SandboxRuntime;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

/** How the standalone server picks its sandbox runtime: containerd, or the development runtime only by name. */
class RuntimeChoiceTest {
  @TempDir
  Path dir;

  private SandboxRuntime choose(Map<String, String> env) throws Exception {
    StandaloneConfig c = StandaloneConfig.load(List.of(), env);
    return Main.runtime(c, "test-node", dir, LoggerFactory.getLogger(getClass()));
  }

  /** The default fails closed: no containerd means no start, never host processes. */
  @Test
  void autoRefusesToStartWithoutContainerd() {
    assertThatThrownBy(() -> choose(Map.of("EXTEND_CONTAINERD_SOCKET", dir.resolve("absent.sock").toString())))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("EXTEND_RUNTIME=auto needs containerd")
        .hasMessageContaining("absent.sock")
        .hasMessageContaining("apt-get install containerd runc")
        .hasMessageContaining("EXTEND_RUNTIME=local");
  }

  /** A socket that is there but is not a healthy containerd: refused as well. */
  @Test
  void autoRefusesAnUnhealthyContainerd() throws Exception {
    Path sock = dir.resolve("mute.sock");
    try (var server = java.nio.channels.ServerSocketChannel.open(java.net.StandardProtocolFamily.UNIX)) {
      server.bind(java.net.UnixDomainSocketAddress.of(sock));
      Thread closer = new Thread(() -> {
        try {
          while (true) {
            server.accept().close();
          }
        } catch (java.io.IOException e) {
          // closed
        }
      });
      closer.setDaemon(true);
      closer.start();
      assertThatThrownBy(() -> choose(Map.of("EXTEND_CONTAINERD_SOCKET", sock.toString())))
          .isInstanceOf(IllegalStateException.class)
          .hasMessageContaining("EXTEND_RUNTIME=auto needs containerd, but")
          .hasMessageContaining("apt-get install containerd runc");
    }
  }

  @Test
  void containerdModeFailsLoudlyWhenContainerdDoesNotAnswer() {
    assertThatThrownBy(() -> choose(Map.of("EXTEND_RUNTIME", "containerd",
        "EXTEND_CONTAINERD_SOCKET", dir.resolve("absent.sock").toString())))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("EXTEND_RUNTIME=containerd")
        .hasMessageContaining("absent.sock");
  }

  @Test
  void localWhenAskedFor() throws Exception {
    try (SandboxRuntime r = choose(Map.of("EXTEND_RUNTIME", "local"))) {
      assertThat(r.name()).isEqualTo("local");
    }
  }
}
