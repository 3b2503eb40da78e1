package dev.extend;

import dev.extend.spi.SandboxRuntime;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

/** Builds platforms on the local runtime with real Node for end-to-end tests. */
final class PlatformTestSupport {
  private PlatformTestSupport() {}

  static Path node() {
    for (String p : new String[] {"/usr/bin/node", "/usr/local/bin/node"}) {
      if (Files.isExecutable(Path.of(p))) {
        return Path.of(p);
      }
    }
    throw new IllegalStateException("node is required for these tests");
  }

  static ServerlessPlatform.Builder builder(Path dataDir) {
    return ServerlessPlatform.builder()
        .dataDir(dataDir)
        .nodeId("test")
        .sandboxRuntime(SandboxRuntime.localProcesses())
        .poolSize(2)
        .maxSandboxes(8)
        .sandboxWaitTimeout(Duration.ofSeconds(20));
  }
}
