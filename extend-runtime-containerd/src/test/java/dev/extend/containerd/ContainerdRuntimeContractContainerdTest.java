package dev.extend.containerd;

import dev.extend.spi.SandboxRuntime;
import dev.extend.testing.ContainerdFixture;
import dev.extend.testing.SandboxRuntimeContract;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.UUID;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

/** The containerd runtime against the runtime contract, with a real (private) containerd. */
class ContainerdRuntimeContractContainerdTest extends SandboxRuntimeContract {
  static ContainerdFixture containerd;
  static Path dataDir;

  @BeforeAll
  static void startContainerd() throws Exception {
    containerd = ContainerdFixture.start();
    dataDir = TestData.dataDir();
  }

  @AfterAll
  static void stopContainerd() throws Exception {
    if (containerd != null) {
      containerd.close();
    }
  }

  @Override
  protected SandboxRuntime createRuntime() {
    return ContainerdRuntime.builder()
        .socket(containerd.socket())
        .namespace("extend-test")
        .nodeId("contract-" + UUID.randomUUID().toString().substring(0, 6))
        .dataDir(dataDir)
        .build();
  }
}
