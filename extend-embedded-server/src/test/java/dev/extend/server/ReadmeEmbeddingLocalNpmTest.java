package dev.extend.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.extend.InvocationRequest;
import dev.extend.InvocationResponse;
import dev.extend.ModuleState;
import dev.extend.ModuleStatus;
import dev.extend.ServerlessPlatform;
import dev.extend.WebhookRef;
import dev.extend.WebhookSpec;
import dev.extend.spi.SandboxRuntime;
import dev.extend.testing.LocalNpmRegistry;
import dev.extend.testing.NpmFixtures;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * An embedder who follows the README: adds extend-storage-jdbc and extend-modulebuild to the
 * class path and builds a platform naming only its data dir. Found by ServiceLoader, the JDBC
 * stores (an H2 database in the data dir) keep webhooks and modules across restarts, and the npm
 * module builder builds dependencies (with real npm, from a local registry named by the
 * EXTEND_NPM_REGISTRY setting). The runtime is named (the development runtime): containerd,
 * which the README's platform finds the same way, needs root and a daemon.
 */
class ReadmeEmbeddingLocalNpmTest {
  private static final WebhookRef TOP = WebhookRef.of("acme", "top");

  @TempDir
  Path dir;
  private LocalNpmRegistry registry;

  @BeforeEach
  void registry() throws Exception {
    assumeTrue(Files.isExecutable(TestServer.NODE), "node is required");
    registry = LocalNpmRegistry.withFixtures();
    System.setProperty("EXTEND_NPM_REGISTRY", registry.url().toString());
  }

  @AfterEach
  void stop() {
    System.clearProperty("EXTEND_NPM_REGISTRY");
    if (registry != null) {
      registry.close();
    }
  }

  private ServerlessPlatform readmePlatform() {
    return ServerlessPlatform.builder()
        .dataDir(dir)
        .poolSize(1)
        .sandboxRuntime(SandboxRuntime.localProcesses())
        .build();
  }

  private static ModuleStatus awaitSettled(ServerlessPlatform p) throws InterruptedException {
    long until = System.nanoTime() + Duration.ofMinutes(2).toNanos();
    while (true) {
      ModuleStatus s = p.module(NpmFixtures.TRANSITIVE).orElseThrow();
      if (s.state() == ModuleState.READY || s.state() == ModuleState.FAILED || System.nanoTime() > until) {
        return s;
      }
      Thread.sleep(50);
    }
  }

  @Test
  void storesAndTheModuleBuilderAreFoundAndModulesBuild() throws Exception {
    String nodeId;
    try (ServerlessPlatform p = readmePlatform()) {
      p.put(TOP, WebhookSpec.builder("module.exports = async () => require('ext-top')();")
          .dependency(NpmFixtures.TRANSITIVE.name(), NpmFixtures.TRANSITIVE.version()).build());
      ModuleStatus built = awaitSettled(p);
      assertThat(built.state()).as(built.log()).isEqualTo(ModuleState.READY);
      try (InvocationResponse r = p.invoke(TOP, InvocationRequest.get())) {
        assertThat(r.status()).isEqualTo(200);
        assertThat(r.bodyText()).contains("top>mid>leaf");
      }
      nodeId = p.nodeId();
    }
    assertThat(registry.tarballDownloads("ext-top", "1.0.0")).isEqualTo(1);
    // the JDBC stores' H2 database and secret keys, in the data dir
    assertThat(dir.resolve("extend.mv.db")).isRegularFile();
    assertThat(dir.resolve("secret.keys")).isRegularFile();

    // A restart on the data dir is the same node, with its webhook and its built module.
    try (ServerlessPlatform p = readmePlatform()) {
      assertThat(p.nodeId()).isEqualTo(nodeId);
      assertThat(p.get(TOP)).isPresent();
      assertThat(p.module(NpmFixtures.TRANSITIVE).orElseThrow().state()).isEqualTo(ModuleState.READY);
      try (InvocationResponse r = p.invoke(TOP, InvocationRequest.get())) {
        assertThat(r.bodyText()).contains("top>mid>leaf");
      }
    }
    assertThat(registry.tarballDownloads("ext-top", "1.0.0")).isEqualTo(1);
  }
}
