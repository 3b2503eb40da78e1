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
    HostLayout.requireNodeAndNpm();
    registry = LocalNpmRegistry.withFixtures();
    platform = ServerlessPlatform.builder()
        .dataDir(data)
        .nodeId("modulebuild-test")
        .sandboxRuntime(SandboxRuntime.localProcesses(HostLayout.NODE))
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
