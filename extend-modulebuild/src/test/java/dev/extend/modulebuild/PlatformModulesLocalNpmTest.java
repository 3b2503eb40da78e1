package dev.extend.modulebuild;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.extend.InvocationRequest;
import dev.extend.InvocationResponse;
import dev.extend.ModuleState;
import dev.extend.ModuleStatus;
import dev.extend.ModulesNotReadyException;
import dev.extend.ServerlessPlatform;
import dev.extend.WebhookRef;
import dev.extend.WebhookSpec;
import dev.extend.spi.SandboxRuntime;
import dev.extend.testing.LocalNpmRegistry;
import dev.extend.testing.NpmFixtures;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Module provisioning end to end through {@link ServerlessPlatform} on the local runtime, with
 * the npm builder installing the fixture packages from a local registry (offline).
 */
class PlatformModulesLocalNpmTest {
  @TempDir Path data;
  private LocalNpmRegistry registry;
  private ServerlessPlatform platform;

  @BeforeEach
  void start() throws Exception {
    HostLayout.requireRuntime();
    registry = LocalNpmRegistry.withFixtures();
    platform = ServerlessPlatform.builder()
        .dataDir(data)
        .nodeId("modulebuild-test")
        .sandboxRuntime(SandboxRuntime.localProcesses())
        .moduleBuilder(NpmModuleBuilder.builder().registry(registry.url()).timeout(Duration.ofMinutes(2)).build())
        .buildWorkers(2)
        .poolSize(1)
        .sandboxWaitTimeout(Duration.ofSeconds(20))
        .build();
  }

  @AfterEach
  void stop() {
    if (platform != null) {
      platform.close();
    }
    if (registry != null) {
      registry.close();
    }
  }

  @Test
  void pluginGetsTheWebhooksCopyOfItsPeer() throws Exception {
    String code = "const host = require('ext-host'); const plugin = require('ext-plugin');"
        + "module.exports = async () => ({same: plugin.host === host, version: plugin.hostVersion, plugins: host.plugins()});";
    WebhookRef ref = WebhookRef.of("acme", "plugged");
    platform.put(ref, WebhookSpec.builder(code)
        .dependency(NpmFixtures.PEER.name(), NpmFixtures.PEER.version())
        .dependency(NpmFixtures.HOST_1.name(), NpmFixtures.HOST_1.version())
        .build());
    assertThat(PlatformModules.awaitSettled(platform, NpmFixtures.PEER, Duration.ofMinutes(2)).state()).isEqualTo(ModuleState.READY);
    assertThat(PlatformModules.awaitSettled(platform, NpmFixtures.HOST_1, Duration.ofMinutes(2)).state()).isEqualTo(ModuleState.READY);

    try (InvocationResponse r = platform.invoke(ref, InvocationRequest.get())) {
      assertThat(r.status()).isEqualTo(200);
      assertThat(r.bodyText()).isEqualTo("{\"same\":true,\"version\":\"1.0.0\",\"plugins\":[\"ext-plugin\"]}");
    }
    // npm would have picked ext-host 2.0.0 for the plugin had it installed peers itself.
    assertThat(registry.tarballDownloads("ext-host", "2.0.0")).isZero();
  }

  @Test
  void updateToAnotherPeerVersionInAWarmSandboxUsesTheNewCopy() throws Exception {
    String code = "const host = require('ext-host'); const plugin = require('ext-plugin');"
        + "module.exports = async () => ({same: plugin.host === host, version: plugin.hostVersion, mine: host.version,"
        + " pid: process.pid});";
    WebhookRef ref = WebhookRef.of("acme", "upgraded");
    WebhookRef other = WebhookRef.of("acme", "stays");
    for (WebhookRef r : new WebhookRef[] {ref, other}) {
      platform.put(r, WebhookSpec.builder(code)
          .dependency(NpmFixtures.PEER.name(), NpmFixtures.PEER.version())
          .dependency(NpmFixtures.HOST_1.name(), NpmFixtures.HOST_1.version())
          .build());
    }
    PlatformModules.awaitSettled(platform, NpmFixtures.PEER, Duration.ofMinutes(2));
    PlatformModules.awaitSettled(platform, NpmFixtures.HOST_1, Duration.ofMinutes(2));
    String pid;
    try (InvocationResponse r = platform.invoke(ref, InvocationRequest.get())) {
      String body = r.bodyText();
      assertThat(body).startsWith("{\"same\":true,\"version\":\"1.0.0\",\"mine\":\"1.0.0\",\"pid\":");
      pid = body.substring(body.indexOf("\"pid\":"));
    }
    platform.put(ref, WebhookSpec.builder(code)
        .dependency(NpmFixtures.PEER.name(), NpmFixtures.PEER.version())
        .dependency(NpmFixtures.HOST_2.name(), NpmFixtures.HOST_2.version())
        .build());
    assertThat(PlatformModules.awaitSettled(platform, NpmFixtures.HOST_2, Duration.ofMinutes(2)).state()).isEqualTo(ModuleState.READY);
    // Same container, so the same (warm) sandbox serves the new version and the other webhook.
    try (InvocationResponse r = platform.invoke(ref, InvocationRequest.get())) {
      assertThat(r.bodyText()).isEqualTo("{\"same\":true,\"version\":\"2.0.0\",\"mine\":\"2.0.0\"," + pid);
    }
    try (InvocationResponse r = platform.invoke(other, InvocationRequest.get())) {
      assertThat(r.bodyText()).isEqualTo("{\"same\":true,\"version\":\"1.0.0\",\"mine\":\"1.0.0\"," + pid);
    }
  }

  @Test
  void aModuleIsBuiltOncePerAbiAndEachRuntimeRunsItsOwnBuild() throws Exception {
    String code = "module.exports = async () => ({top: require('ext-top')(), node: process.version});";
    WebhookRef on20 = WebhookRef.of("acme", "top-20");
    WebhookRef on22 = WebhookRef.of("acme", "top-22");
    WebhookRef again22 = WebhookRef.of("globex", "top-22");
    for (WebhookRef ref : new WebhookRef[] {on20, on22, again22}) {
      platform.put(ref, WebhookSpec.builder(code).runtime(ref == on20 ? "node20" : "node22")
          .dependency(NpmFixtures.TRANSITIVE.name(), NpmFixtures.TRANSITIVE.version()).build());
    }
    dev.extend.ModuleRef for20 = platform.build(NpmFixtures.TRANSITIVE, "node20");
    dev.extend.ModuleRef for22 = platform.build(NpmFixtures.TRANSITIVE, "node22");
    assertThat(for20.abi()).isEqualTo(115);
    assertThat(for22.abi()).isEqualTo(127);
    ModuleStatus s20 = PlatformModules.awaitSettled(platform, for20, Duration.ofMinutes(2));
    ModuleStatus s22 = PlatformModules.awaitSettled(platform, for22, Duration.ofMinutes(2));
    assertThat(s20.state()).as(s20.log()).isEqualTo(ModuleState.READY);
    assertThat(s22.state()).as(s22.log()).isEqualTo(ModuleState.READY);
    assertThat(s20.log()).contains("runtime node20");
    assertThat(s22.log()).contains("runtime node22");
    // Two webhooks of node22 in two containers share one build: one record per ABI, two in all.
    assertThat(platform.modules(1000, null).items()).filteredOn(m -> m.module().name().equals(NpmFixtures.TRANSITIVE.name()))
        .extracting(m -> m.module().abi()).containsExactly(115, 127);
    assertThat(platform.module(platform.build(NpmFixtures.TRANSITIVE, "node24"))).as("nothing asked for node24").isEmpty();
    for (WebhookRef ref : new WebhookRef[] {on20, on22, again22}) {
      try (InvocationResponse r = platform.invoke(ref, InvocationRequest.get())) {
        String body = r.bodyText();
        assertThat(r.status()).as(body).isEqualTo(200);
        assertThat(body).contains("\"node\":\"v" + platform.runtime(ref == on20 ? "node20" : "node22").nodeVersion() + "\"");
      }
    }
  }

  @Test
  void transitiveAndScopedModulesRunInOneContainer() throws Exception {
    WebhookRef top = WebhookRef.of("acme", "top");
    WebhookRef greet = WebhookRef.of("acme", "greet");
    platform.put(top, WebhookSpec.builder("module.exports = async () => require('ext-top')();")
        .dependency(NpmFixtures.TRANSITIVE.name(), NpmFixtures.TRANSITIVE.version()).build());
    platform.put(greet, WebhookSpec.builder("module.exports = async (ctx) => require('@extend-test/greeter')(ctx.body.name);")
        .dependency(NpmFixtures.SCOPED.name(), NpmFixtures.SCOPED.version()).build());
    assertThat(PlatformModules.awaitSettled(platform, NpmFixtures.TRANSITIVE, Duration.ofMinutes(2)).state()).isEqualTo(ModuleState.READY);
    assertThat(PlatformModules.awaitSettled(platform, NpmFixtures.SCOPED, Duration.ofMinutes(2)).state()).isEqualTo(ModuleState.READY);

    try (InvocationResponse r = platform.invoke(top, InvocationRequest.get())) {
      assertThat(r.bodyText()).contains("top>mid>leaf");
    }
    try (InvocationResponse r = platform.invoke(greet, InvocationRequest.json("{\"name\":\"ada\"}"))) {
      assertThat(r.bodyText()).contains("hello ada from leaf 1.1");
    }
  }

  @Test
  void failedBuildIsReportedWithItsLogAndBlocksInvocation() throws Exception {
    WebhookRef ref = WebhookRef.of("acme", "broken");
    platform.put(ref, WebhookSpec.builder("module.exports = async () => require('ext-broken');")
        .dependency(NpmFixtures.FAILING_INSTALL.name(), NpmFixtures.FAILING_INSTALL.version()).build());
    ModuleStatus s = PlatformModules.awaitSettled(platform, NpmFixtures.FAILING_INSTALL, Duration.ofMinutes(2));
    assertThat(s.state()).isEqualTo(ModuleState.FAILED);
    assertThat(s.log()).contains("cannot find the native toolchain").contains("exit status");

    assertThatThrownBy(() -> platform.invoke(ref, InvocationRequest.get()))
        .isInstanceOfSatisfying(ModulesNotReadyException.class, e -> assertThat(e.modules())
            .singleElement().satisfies(m -> assertThat(m.state()).isEqualTo(ModuleState.FAILED)));
  }
}
