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

/** How the standalone server picks its sandbox runtime when containerd is not there. */
class RuntimeChoiceTest {
  @TempDir
  Path dir;

  private SandboxRuntime choose(Map<String, String> env) throws Exception {
    StandaloneConfig c = StandaloneConfig.load(List.of(), env);
    return Main.runtime(c, "test-node", dir, Path.of("/usr/bin/node"), LoggerFactory.getLogger(getClass()));
  }

  @Test
  void autoFallsBackToLocalWithoutAContainerdSocket() throws Exception {
    try (SandboxRuntime r = choose(Map.of("EXTEND_CONTAINERD_SOCKET", dir.resolve("absent.sock").toString()))) {
      assertThat(r.name()).isEqualTo("local");
      assertThat(r.isolating()).isFalse();
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
