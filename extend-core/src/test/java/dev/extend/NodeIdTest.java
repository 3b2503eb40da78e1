package dev.extend;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.extend.spi.SandboxRuntime;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A node's id without one configured is kept in its data dir, so that a restarted node is the
 * same node and recovers the sandboxes its previous run left behind.
 */
class NodeIdTest {
  @TempDir
  Path dir;

  private static String nodeIdOfPlatformOn(Path dataDir) {
    try (ServerlessPlatform p = ServerlessPlatform.builder().dataDir(dataDir).poolSize(0)
        .sandboxRuntime(SandboxRuntime.localProcesses()).build()) {
      return p.nodeId();
    }
  }

  @Test
  void twoStartsOnOneDataDirAreOneNode() throws Exception {
    String first = nodeIdOfPlatformOn(dir.resolve("a"));
    String second = nodeIdOfPlatformOn(dir.resolve("a"));
    assertThat(second).isEqualTo(first);
    assertThat(Files.readString(dir.resolve("a/node-id")).strip()).isEqualTo(first);
    assertThat(ServerlessPlatform.storedNodeId(dir.resolve("a"))).isEqualTo(first);
  }

  @Test
  void twoDataDirsAreTwoNodes() {
    assertThat(nodeIdOfPlatformOn(dir.resolve("a"))).isNotEqualTo(nodeIdOfPlatformOn(dir.resolve("b")));
  }

  @Test
  void aConfiguredIdWinsAndIsNotStored() {
    try (ServerlessPlatform p = ServerlessPlatform.builder().dataDir(dir).nodeId("edge-7").poolSize(0)
        .sandboxRuntime(SandboxRuntime.localProcesses()).build()) {
      assertThat(p.nodeId()).isEqualTo("edge-7");
    }
    assertThat(dir.resolve("node-id")).doesNotExist();
  }

  @Test
  void theStandaloneServersFileIsReadAsItIs() throws Exception {
    Files.writeString(dir.resolve("node-id"), "host-1-a1b2c3\n");
    assertThat(nodeIdOfPlatformOn(dir)).isEqualTo("host-1-a1b2c3");
  }

  @Test
  void aFileThatHoldsNoNodeIdFailsTheStartNamingIt() throws Exception {
    Files.writeString(dir.resolve("node-id"), "not a node id\n");
    assertThatThrownBy(() -> nodeIdOfPlatformOn(dir))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining(dir.resolve("node-id").toString())
        .hasMessageContaining("correct or delete it");
  }

  @Test
  void aRefusedConfigurationLeavesNothingOnDisk() {
    Path fresh = dir.resolve("fresh");
    assertThatThrownBy(() -> ServerlessPlatform.builder().dataDir(fresh).maxSandboxes(0).build())
        .hasMessageContaining("maxSandboxes");
    assertThat(fresh).doesNotExist();
  }

  @Test
  void platformsStartingTogetherOnOneDirAgree() throws Exception {
    Path shared = dir.resolve("shared");
    ExecutorService pool = Executors.newFixedThreadPool(8);
    try {
      List<Callable<String>> calls = new ArrayList<>();
      for (int i = 0; i < 16; i++) {
        calls.add(() -> ServerlessPlatform.storedNodeId(shared));
      }
      Set<String> ids = new HashSet<>();
      for (Future<String> f : pool.invokeAll(calls)) {
        ids.add(f.get());
      }
      assertThat(ids).hasSize(1);
      try (var files = Files.list(shared)) {
        assertThat(files.map(p -> p.getFileName().toString())).containsExactly("node-id");
      }
    } finally {
      pool.shutdownNow();
    }
  }
}
