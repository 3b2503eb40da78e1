package dev.extend;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class ValidationTest {
  @ParameterizedTest
  @ValueSource(strings = {"acme", "a", "tenant-42", "t_1", "0abc"})
  void validContainers(String name) {
    assertThat(ContainerName.of(name).value()).isEqualTo(name);
  }

  @ParameterizedTest
  @ValueSource(strings = {"", "Acme", "-a", "_a", "a/b", "a.b", "..", "a b", "a%2Fb",
      "0123456789012345678901234567890123456789012345678901234567890123"})
  void invalidContainers(String name) {
    assertThatThrownBy(() -> ContainerName.of(name)).isInstanceOf(ValidationException.class)
        .hasMessageStartingWith("container:")
        .satisfies(e -> assertThat(((ValidationException) e).status()).isEqualTo(400));
  }

  @ParameterizedTest
  @ValueSource(strings = {"", "-x", "a/b", "..", ".x", "a.b", "x y"})
  void invalidWebhookNames(String name) {
    assertThatThrownBy(() -> WebhookName.of(name)).isInstanceOf(ValidationException.class).hasMessageStartingWith("webhook:");
  }

  @ParameterizedTest
  @ValueSource(strings = {"lodash@4.17.21", "@types/node@20.11.0", "uuid@9.0.1", "a@1.0.0-beta.1+build.5", "left-pad@0.0.3"})
  void validModules(String spec) {
    assertThat(ModuleRef.parse(spec).toString()).isEqualTo(spec);
  }

  @ParameterizedTest
  @ValueSource(strings = {"^4.17.21", "~1.0.0", "latest", "*", "1.x", ">=1.0.0", "1.0", "01.0.0", "git+https://x/y.git",
      "file:../x", "http://evil/x.tgz", "1.0.0 || 2.0.0", "../../etc", "npm:other@1.0.0"})
  void versionsMustBeExact(String version) {
    assertThatThrownBy(() -> new ModuleRef("lodash", version)).isInstanceOf(ValidationException.class)
        .hasMessageStartingWith("dependencies.lodash:").hasMessageContaining("exact semver");
  }

  @ParameterizedTest
  @ValueSource(strings = {"Lodash", ".bin", "_private", "../etc", "a/b/c", "@scope/../x", "node_modules", "a b", "@/x", "@scope/"})
  void packageNamesFollowNpmRules(String name) {
    assertThatThrownBy(() -> new ModuleRef(name, "1.0.0")).isInstanceOf(ValidationException.class);
  }

  @Test
  void specRejectsMissingCodeAndNullValues() {
    assertThatThrownBy(() -> WebhookSpec.builder(" ").build()).hasMessage("code: is required");
    assertThatThrownBy(() -> new WebhookSpec("x", Map.of(), Map.of(), java.util.Collections.singletonMap("k", null), null))
        .isInstanceOf(ValidationException.class).hasMessageStartingWith("meta.k:");
    assertThatThrownBy(() -> WebhookSpec.builder("x").dependency("lodash", "latest").build())
        .hasMessageStartingWith("dependencies.lodash:");
  }

  @Test
  void limitsAreChecked() {
    assertThatThrownBy(() -> new Limits(Duration.ZERO, 128)).hasMessageStartingWith("limits.timeoutMs:");
    assertThatThrownBy(() -> new Limits(Duration.ofSeconds(1), 8)).hasMessageStartingWith("limits.memoryMb:");
  }

  @Test
  void requestPathAndMethodAreChecked() {
    assertThatThrownBy(() -> InvocationRequest.builder().path("no-slash")).hasMessageStartingWith("path:");
    assertThatThrownBy(() -> InvocationRequest.builder().path("/a b")).hasMessageStartingWith("path:");
    assertThatThrownBy(() -> InvocationRequest.builder().method("GE T")).hasMessageStartingWith("method:");
  }

  @Test
  void builderSettingsAreValidatedOnceWithTheSettingNamed() {
    assertThatThrownBy(() -> ServerlessPlatform.builder().maxSandboxes(0).build())
        .isInstanceOf(IllegalStateException.class).hasMessageContaining("maxSandboxes");
    assertThatThrownBy(() -> ServerlessPlatform.builder().poolSize(10).maxSandboxes(4).build())
        .hasMessageContaining("poolSize");
    assertThatThrownBy(() -> ServerlessPlatform.builder().defaultLimits(new Limits(Duration.ofMinutes(10), 128)).build())
        .hasMessageContaining("defaultLimits.timeout");
  }

  /** Fails closed: with no isolating runtime usable and none named, the platform does not start. */
  @Test
  void noIsolatingRuntimeMeansNoPlatform(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) {
    assertThatThrownBy(() -> ServerlessPlatform.builder().dataDir(dir).build())
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("no isolating sandbox runtime is usable")
        .hasMessageContaining("apt-get install containerd runc")
        .hasMessageContaining("SandboxRuntime.localProcesses()");
  }

  /** The development runtime runs only when named, and the platform says it does not isolate. */
  @Test
  void theDevelopmentRuntimeOnlyByName(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) {
    try (ServerlessPlatform p = ServerlessPlatform.builder().dataDir(dir).poolSize(0)
        .sandboxRuntime(dev.extend.spi.SandboxRuntime.localProcesses()).build()) {
      assertThat(p.isolating()).isFalse();
      assertThat(p.runtimeName()).isEqualTo("local");
    }
  }

  /** Secrets never show in what a log line or an error message would print of a webhook. */
  @Test
  void toStringNamesSecretsButNeverTheirValues() {
    WebhookSpec spec = WebhookSpec.builder("module.exports = () => 'xoxb-in-code'").secret("SLACK_TOKEN", "xoxb-12345")
        .build();
    assertThat(spec.toString()).contains("SLACK_TOKEN").doesNotContain("xoxb-12345").doesNotContain("xoxb-in-code");
    dev.extend.spi.WebhookRecord r = new dev.extend.spi.WebhookRecord(WebhookRef.of("acme", "hook"), spec.code(),
        java.util.List.of(), spec.secrets(), Map.of(), new Limits(Duration.ofSeconds(1), 128), "node22", 3, null, null);
    assertThat(r.toString()).contains("SLACK_TOKEN", "version=3").doesNotContain("xoxb-12345");
  }
}
