package dev.extend.modulebuild;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.extend.containerd.ContainerdRuntime;
import dev.extend.spi.ModuleBuilder.ModuleBuildException;
import dev.extend.testing.ContainerdFixture;
import dev.extend.testing.LocalNpmRegistry;
import dev.extend.testing.NpmFixtures;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Builds in containerd build sandboxes (the runtime's job runner, a private containerd daemon)
 * from the local npm registry: npm and install scripts run as the sandbox user inside the
 * sandboxes' root filesystem, and the tarball works on the host like any other.
 */
class NpmModuleBuilderContainerdTest {
  private static ContainerdFixture containerd;
  private static ContainerdRuntime runtime;
  private static LocalNpmRegistry registry;
  private static NpmModuleBuilder builder;

  @TempDir Path tmp;

  @BeforeAll
  static void start() throws Exception {
    HostLayout.requireRuntime();
    containerd = ContainerdFixture.start();
    runtime = ContainerdRuntime.builder().socket(containerd.socket()).namespace("extend-modulebuild-test")
        .nodeId("modulebuild").dataDir(Files.createDirectories(Path.of("target/extend-data").toAbsolutePath()))
        .build();
    runtime.recover();
    // Build sandboxes may have a network of their own, without the host's loopback.
    registry = LocalNpmRegistry.withFixtures(LocalNpmRegistry.hostAddress());
    builder = NpmModuleBuilder.builder().jobRunner(runtime.jobRunner().orElseThrow()).registry(registry.url())
        .timeout(Duration.ofMinutes(2)).build();
  }

  @AfterAll
  static void stop() throws Exception {
    if (registry != null) {
      registry.close();
    }
    if (runtime != null) {
      runtime.close();
    }
    if (containerd != null) {
      containerd.close();
    }
  }

  @Test
  void buildsInsideTheSandboxEnvironment() throws Exception {
    Path work = Files.createDirectories(tmp.resolve("work"));
    Path out = tmp.resolve("top.tgz");
    List<String> log = new CopyOnWriteArrayList<>();
    long t0 = System.nanoTime();
    builder.build(NpmFixtures.TRANSITIVE, dev.extend.testing.TestRuntimes.runtime(), dev.extend.testing.TestRuntimes.distribution(), work, out, log::add);
    System.out.printf("[measure] containerd build of %s: %d ms, tarball %d bytes%n", NpmFixtures.TRANSITIVE,
        (System.nanoTime() - t0) / 1_000_000, Files.size(out));
    assertThat(log).anyMatch(l -> l.startsWith("$ npm install") && l.contains("--prefix /work/prefix"));

    HostLayout host = new HostLayout(tmp.resolve("store"));
    host.unpack(NpmFixtures.TRANSITIVE, out);
    Path hook = host.webhook(tmp.resolve("hook"), "console.log(require('ext-top')());", NpmFixtures.TRANSITIVE);
    assertThat(host.run(hook, null).output()).isEqualTo("top>mid>leaf");
    try (var s = Files.list(work)) {
      assertThat(s.toList()).isEmpty();
    }
  }

  @Test
  void failingInstallScriptFailsInsideTheSandboxToo() throws Exception {
    Path work = Files.createDirectories(tmp.resolve("work"));
    List<String> log = new CopyOnWriteArrayList<>();
    assertThatThrownBy(() -> builder.build(NpmFixtures.FAILING_INSTALL, dev.extend.testing.TestRuntimes.runtime(), dev.extend.testing.TestRuntimes.distribution(), work, tmp.resolve("x.tgz"), log::add))
        .isInstanceOf(ModuleBuildException.class).hasMessageContaining("npm install ext-broken@1.0.0 failed");
    assertThat(String.join("\n", log)).contains("cannot find the native toolchain");
  }
}
