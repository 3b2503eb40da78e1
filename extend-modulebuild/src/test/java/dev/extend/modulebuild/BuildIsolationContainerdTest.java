package dev.extend.modulebuild;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.extend.ServerlessPlatform;
import dev.extend.containerd.ContainerdRuntime;
import dev.extend.spi.JobRunner;
import dev.extend.spi.ModuleBuilder;
import dev.extend.testing.ContainerdFixture;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Install scripts are tenants' code: next to an isolating sandbox runtime, a module builder that
 * would run them as host processes is refused, and a builder without a job runner of its own
 * builds in the runtime's build sandboxes; alone it builds nowhere.
 */
class BuildIsolationContainerdTest {
  @TempDir static Path data;
  static ContainerdFixture containerd;
  static ContainerdRuntime runtime;

  @BeforeAll
  static void start() throws Exception {
    containerd = ContainerdFixture.start();
    runtime = ContainerdRuntime.builder().socket(containerd.socket()).namespace("extend-test").nodeId("pairing")
        .dataDir(data.resolve("runtime")).build();
  }

  @AfterAll
  static void stop() throws Exception {
    if (runtime != null) {
      runtime.close();
    }
    if (containerd != null) {
      containerd.close();
    }
  }

  @Test
  void anIsolatingRuntimeWithUnisolatedBuildsIsRefusedAtBuild() {
    assertThatThrownBy(() -> ServerlessPlatform.builder().dataDir(data.resolve("a")).nodeId("pairing")
        .sandboxRuntime(runtime).poolSize(0)
        .moduleBuilder(NpmModuleBuilder.builder().jobRunner(JobRunner.localProcesses()).build()).build())
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("would run install scripts without isolation");
  }

  @Test
  void aBuilderWithoutItsOwnRunnerBuildsInTheRuntimesSandboxes() {
    NpmModuleBuilder plain = NpmModuleBuilder.builder().build();
    assertThat(plain.isolating()).isFalse();
    ModuleBuilder paired = plain.forRuntime(runtime);
    assertThat(paired.isolating()).isTrue();
    try (ServerlessPlatform p = ServerlessPlatform.builder().dataDir(data.resolve("b")).nodeId("pairing")
        .sandboxRuntime(runtime).poolSize(0).moduleBuilder(plain).build()) {
      assertThat(p.isolating()).isTrue();
    }
  }

  @Test
  void aBuilderWithoutAnyRunnerBuildsNothing(@TempDir Path work) {
    assertThatThrownBy(() -> NpmModuleBuilder.builder().build()
        .build(dev.extend.ModuleRef.parse("left-pad@1.3.0"), dev.extend.testing.TestRuntimes.runtime(), dev.extend.testing.TestRuntimes.distribution(), work, work.resolve("out.tgz"), line -> { }))
        .isInstanceOf(ModuleBuilder.ModuleBuildException.class)
        .hasMessageContaining("no job runner");
  }
}
