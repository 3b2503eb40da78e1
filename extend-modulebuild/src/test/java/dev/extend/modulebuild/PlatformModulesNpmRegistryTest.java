package dev.extend.modulebuild;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.extend.InvocationRequest;
import dev.extend.InvocationResponse;
import dev.extend.ModuleRef;
import dev.extend.ModuleState;
import dev.extend.ModulesNotReadyException;
import dev.extend.PutResult;
import dev.extend.ServerlessPlatform;
import dev.extend.WebhookRef;
import dev.extend.WebhookSpec;
import dev.extend.spi.SandboxRuntime;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Module provisioning end to end through {@link ServerlessPlatform} on the local runtime, with
 * the npm builder installing {@code async@2.6.0} from npm's public registry.
 */
class PlatformModulesNpmRegistryTest {
  private static final ModuleRef ASYNC = new ModuleRef("async", "2.6.0").forAbi(dev.extend.testing.TestRuntimes.runtime().abi());

  @TempDir Path data;

  @BeforeAll
  static void registry() throws Exception {
    PublicNpmRegistry.require();
  }

  @Test
  void twoContainersShareOneBuildAndRunOnlyOnceItIsReady() throws Exception {
    GatedBuilder builder = new GatedBuilder(NpmModuleBuilder.builder().jobRunner(dev.extend.spi.JobRunner.localProcesses()).timeout(Duration.ofMinutes(3)).build());
    try (ServerlessPlatform platform = ServerlessPlatform.builder()
        .dataDir(data)
        .nodeId("modulebuild-test")
        .sandboxRuntime(SandboxRuntime.localProcesses())
        .moduleBuilder(builder)
        .buildWorkers(2)
        .poolSize(2)
        .sandboxWaitTimeout(Duration.ofSeconds(20))
        .build()) {
      // async resolves lodash from its own closure; the webhook itself names only async.
      String code = "const async = require('async');"
          + "module.exports = (ctx, cb) => async.map([1, 2, 3], (n, done) => done(null, n * ctx.body.k),"
          + " (err, out) => cb(err, {out}));";
      WebhookRef a = WebhookRef.of("acme", "double");
      WebhookRef b = WebhookRef.of("beta", "triple");
      PutResult pa = platform.put(a, WebhookSpec.builder(code).dependency("async", "2.6.0").build());
      PutResult pb = platform.put(b, WebhookSpec.builder(code).dependency("async", "2.6.0").build());
      assertThat(pa.modules()).singleElement().satisfies(m -> {
        assertThat(m.module()).isEqualTo(ASYNC);
        assertThat(m.state()).isIn(ModuleState.QUEUED, ModuleState.BUILDING);
      });
      assertThat(pb.modules()).singleElement().satisfies(m -> assertThat(m.state()).isIn(ModuleState.QUEUED, ModuleState.BUILDING));

      // While the build is held, invoking answers 409 with the module states.
      assertThatThrownBy(() -> platform.invoke(a, InvocationRequest.json("{\"k\":2}")))
          .isInstanceOfSatisfying(ModulesNotReadyException.class, e -> {
            assertThat(e.status()).isEqualTo(409);
            assertThat(e.modules()).singleElement().satisfies(m -> {
              assertThat(m.module()).isEqualTo(ASYNC);
              assertThat(m.state()).isIn(ModuleState.QUEUED, ModuleState.BUILDING);
            });
          });

      builder.open();
      long t0 = System.nanoTime();
      assertThat(PlatformModules.awaitSettled(platform, ASYNC, Duration.ofMinutes(3)).state()).isEqualTo(ModuleState.READY);
      System.out.printf("[measure] async@2.6.0 queued-to-ready after the gate opened: %d ms%n",
          (System.nanoTime() - t0) / 1_000_000);

      try (InvocationResponse r = platform.invoke(a, InvocationRequest.json("{\"k\":2}"))) {
        assertThat(r.status()).isEqualTo(200);
        assertThat(r.bodyText()).isEqualTo("{\"out\":[2,4,6]}");
      }
      try (InvocationResponse r = platform.invoke(b, InvocationRequest.json("{\"k\":3}"))) {
        assertThat(r.bodyText()).isEqualTo("{\"out\":[3,6,9]}");
      }
      assertThat(builder.builds).containsExactly(ASYNC);
      assertThat(platform.module(ASYNC).orElseThrow().log()).contains("added 2 packages");
    }
  }
}
