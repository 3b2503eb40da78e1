package dev.extend;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.extend.TestProviders.RecordingStorage;
import dev.extend.spi.ArtifactStore;
import dev.extend.spi.BuildQueue;
import dev.extend.spi.EgressStore;
import dev.extend.spi.FunctionStore;
import dev.extend.spi.ModuleBuilder;
import dev.extend.spi.ModuleStore;
import dev.extend.spi.SandboxRuntime;
import dev.extend.spi.Storage;
import dev.extend.spi.TokenStore;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The order in which a platform chooses its stores and its module builder: given to the
 * builder, else offered by a provider that {@link java.util.ServiceLoader} finds, else the
 * embedded default (with test providers, see {@link TestProviders}).
 */
class DiscoveryTest {
  private static final WebhookRef HELLO = WebhookRef.of("acme", "hello");
  private static final ContainerName ACME = ContainerName.of("acme");

  @TempDir
  Path dir;

  @BeforeEach
  @AfterEach
  void reset() {
    TestProviders.reset();
  }

  private ServerlessPlatform.Builder builder() {
    return ServerlessPlatform.builder().dataDir(dir).poolSize(0)
        .sandboxRuntime(SandboxRuntime.localProcesses());
  }

  private static void putHello(ServerlessPlatform p) {
    p.put(HELLO, WebhookSpec.builder("module.exports = async () => 1").build());
  }

  @Test
  void aStorageFoundServesEveryStoreAndClosesWithThePlatform() {
    RecordingStorage found = new RecordingStorage();
    TestProviders.Stores.offer = found;
    try (ServerlessPlatform p = builder().nodeId("n1").build()) {
      putHello(p);
      p.setEgressPolicy(ACME, EgressPolicy.NONE);
      assertThat(found.functions.get(HELLO)).isPresent();
      assertThat(found.egress.get(ACME)).isPresent();
      assertThat(found.closed).isZero();
    }
    assertThat(found.closed).isEqualTo(1);
    assertThat(TestProviders.Stores.asked).singleElement().satisfies(c -> {
      assertThat(c.nodeId()).isEqualTo("n1");
      assertThat(c.dataDir()).isEqualTo(dir.toAbsolutePath().normalize());
    });
  }

  @Test
  void aStoreGivenOnItsOwnReplacesTheFoundStoresOfItsKindOnly() {
    RecordingStorage found = new RecordingStorage();
    TestProviders.Stores.offer = found;
    FunctionStore mine = FunctionStore.inMemory();
    try (ServerlessPlatform p = builder().functionStore(mine).build()) {
      putHello(p);
      p.setEgressPolicy(ACME, EgressPolicy.NONE);
      assertThat(mine.get(HELLO)).isPresent();
      assertThat(found.functions.get(HELLO)).isEmpty();
      assertThat(found.egress.get(ACME)).isPresent();
    }
  }

  @Test
  void everyStoreGivenAsksNoProvider() {
    TestProviders.Stores.offer = new RecordingStorage();
    try (ServerlessPlatform p = builder().functionStore(FunctionStore.inMemory())
        .artifactStore(ArtifactStore.inMemory()).moduleStore(ModuleStore.inMemory())
        .buildQueue(BuildQueue.inMemory()).tokenStore(TokenStore.inMemory())
        .egressStore(EgressStore.inMemory()).build()) {
      putHello(p);
    }
    assertThat(TestProviders.Stores.asked).isEmpty();
  }

  @Test
  void aStorageGivenWinsOverProvidersAndClosesWithThePlatform() {
    TestProviders.Stores.offer = new RecordingStorage();
    RecordingStorage given = new RecordingStorage();
    try (ServerlessPlatform p = builder().storage(given).build()) {
      putHello(p);
      assertThat(given.functions.get(HELLO)).isPresent();
    }
    assertThat(given.closed).isEqualTo(1);
    assertThat(TestProviders.Stores.asked).isEmpty();
  }

  @Test
  void memoryGivenKeepsAStorageOnTheClassPathOut() {
    TestProviders.Stores.offer = new RecordingStorage();
    try (ServerlessPlatform p = builder().storage(Storage.inMemory()).build()) {
      putHello(p);
      assertThat(p.get(HELLO)).isPresent();
    }
    assertThat(TestProviders.Stores.asked).isEmpty();
  }

  @Test
  void withoutProvidersStoresAreInMemory() {
    try (ServerlessPlatform p = builder().build()) {
      putHello(p);
      assertThat(p.get(HELLO)).isPresent();
    }
    assertThat(TestProviders.Stores.asked).hasSize(1);
  }

  /** A storage opened for a platform that then does not start (no runtime) is closed again. */
  @Test
  void aFailedStartClosesTheStorageFound() {
    RecordingStorage found = new RecordingStorage();
    TestProviders.Stores.offer = found;
    assertThatThrownBy(() -> ServerlessPlatform.builder().dataDir(dir).build())
        .hasMessageContaining("no isolating sandbox runtime is usable");
    assertThat(found.closed).isEqualTo(1);
  }

  /** A builder that proves it built: its build fails with its own words in the log. */
  private static final ModuleBuilder FOUND_BUILDER = (module, runtime, runtimeDir, workDir, output, log) -> {
    log.accept("the builder found by ServiceLoader builds " + module);
    throw new ModuleBuilder.ModuleBuildException("found builder");
  };

  private static ModuleStatus awaitSettled(ServerlessPlatform p, ModuleRef m) throws InterruptedException {
    long until = System.nanoTime() + Duration.ofSeconds(30).toNanos();
    while (true) {
      ModuleStatus s = p.module(m).orElseThrow();
      if (s.state() == ModuleState.READY || s.state() == ModuleState.FAILED || System.nanoTime() > until) {
        return s;
      }
      Thread.sleep(20);
    }
  }

  @Test
  void aModuleBuilderFoundBuildsTheModulesAndKeepsThePrivateScopes() throws Exception {
    TestProviders.Builders.offer = FOUND_BUILDER;
    ModuleRef leaf = new ModuleRef("leaf", "1.0.0");
    try (ServerlessPlatform p = builder().privateScope("corp", "acme").build()) {
      p.put(HELLO, WebhookSpec.builder("module.exports = async () => 1").dependency("leaf", "1.0.0").build());
      ModuleStatus s = awaitSettled(p, leaf);
      assertThat(s.state()).isEqualTo(ModuleState.FAILED);
      assertThat(s.log()).contains("the builder found by ServiceLoader builds leaf");
    }
    assertThat(TestProviders.Builders.asked).singleElement()
        .satisfies(c -> assertThat(c.privateScopes()).containsExactly("corp"));
  }

  @Test
  void aModuleBuilderGivenAsksNoProvider() throws Exception {
    TestProviders.Builders.offer = FOUND_BUILDER;
    ModuleBuilder given = (module, runtime, runtimeDir, workDir, output, log) -> {
      log.accept("the builder given builds " + module);
      throw new ModuleBuilder.ModuleBuildException("given builder");
    };
    try (ServerlessPlatform p = builder().moduleBuilder(given).build()) {
      p.put(HELLO, WebhookSpec.builder("module.exports = async () => 1").dependency("leaf", "1.0.0").build());
      assertThat(awaitSettled(p, new ModuleRef("leaf", "1.0.0")).log()).contains("the builder given builds");
    }
    assertThat(TestProviders.Builders.asked).isEmpty();
  }

  @Test
  void withoutBuildWorkersNoBuilderIsLookedFor() {
    TestProviders.Builders.offer = FOUND_BUILDER;
    try (ServerlessPlatform p = builder().buildWorkers(0).build()) {
      putHello(p);
    }
    assertThat(TestProviders.Builders.asked).isEmpty();
  }
}
