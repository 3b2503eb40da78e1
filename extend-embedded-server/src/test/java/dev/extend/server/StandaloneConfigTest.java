package dev.extend.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Settings of the standalone server: defaults, file, environment (which wins), validation. */
class StandaloneConfigTest {
  @TempDir
  Path dir;

  @Test
  void defaults() throws Exception {
    StandaloneConfig c = StandaloneConfig.load(List.of(), Map.of());
    assertThat(c.port()).isEqualTo(8080);
    assertThat(c.runtime()).isEqualTo("auto");
    assertThat(c.dataDir()).isEqualTo(Path.of("extend-data").toAbsolutePath());
    assertThat(c.get("EXTEND_ADMIN_TOKEN")).isNull();
  }

  @Test
  void fileThenEnvironmentWhichWins() throws Exception {
    Path file = dir.resolve("extend.properties");
    Files.writeString(file, "extend.port=9000\nEXTEND_POOL_SIZE=5\nextend.runtime=local\nextend.jdbc.url=jdbc:h2:mem:x\n");
    StandaloneConfig c = StandaloneConfig.load(List.of("--config", file.toString()),
        Map.of("EXTEND_PORT", "9100", "PATH", "/bin"));
    assertThat(c.port()).isEqualTo(9100);
    assertThat(c.integer("EXTEND_POOL_SIZE")).isEqualTo(5);
    assertThat(c.runtime()).isEqualTo("local");
    assertThat(c.asEnvironment()).containsEntry("EXTEND_JDBC_URL", "jdbc:h2:mem:x");
    StandaloneConfig viaEnv = StandaloneConfig.load(List.of(), Map.of("EXTEND_CONFIG", file.toString()));
    assertThat(viaEnv.port()).isEqualTo(9000);
  }

  @Test
  void webhookLimitsEachOptionalAndNamedWhenWrong() throws Exception {
    StandaloneConfig none = StandaloneConfig.load(List.of(), Map.of());
    assertThat(none.limits("EXTEND_DEFAULT")).isEqualTo(new dev.extend.Limits(null, null));
    StandaloneConfig some = StandaloneConfig.load(List.of(), Map.of("EXTEND_DEFAULT_TIMEOUT_MS", "1500",
        "EXTEND_MAX_MEMORY_MB", "2048"));
    assertThat(some.limits("EXTEND_DEFAULT")).isEqualTo(dev.extend.Limits.ofTimeout(java.time.Duration.ofMillis(1500)));
    assertThat(some.limits("EXTEND_MAX")).isEqualTo(dev.extend.Limits.ofMemoryMb(2048));
    // the platform takes them: a webhook without limits gets 1.5 s and the built-in memory
    try (dev.extend.ServerlessPlatform p = dev.extend.ServerlessPlatform.builder().dataDir(dir.resolve("data"))
        .sandboxRuntime(dev.extend.spi.SandboxRuntime.localProcesses()).buildWorkers(0).poolSize(0)
        .defaultLimits(some.limits("EXTEND_DEFAULT")).maxLimits(some.limits("EXTEND_MAX")).build()) {
      dev.extend.WebhookRef ref = dev.extend.WebhookRef.of("acme", "limited");
      p.put(ref, dev.extend.WebhookSpec.builder("module.exports = async () => 1").build());
      assertThat(p.get(ref).orElseThrow().limits()).isEqualTo(new dev.extend.Limits(java.time.Duration.ofMillis(1500), 256));
      p.put(ref, dev.extend.WebhookSpec.builder("module.exports = async () => 1").memoryMb(2048).build());
      assertThat(p.get(ref).orElseThrow().limits().memoryMb()).isEqualTo(2048);
    }
    assertThatThrownBy(() -> StandaloneConfig.load(List.of(), Map.of("EXTEND_DEFAULT_MEMORY_MB", "16")))
        .hasMessageContaining("EXTEND_DEFAULT_MEMORY_MB").hasMessageContaining("at least 32");
    assertThatThrownBy(() -> StandaloneConfig.load(List.of(), Map.of("EXTEND_MAX_TIMEOUT_MS", "soon")))
        .hasMessageContaining("EXTEND_MAX_TIMEOUT_MS must be an integer");
  }

  @Test
  void secretsAreMaskedInTheLog() throws Exception {
    StandaloneConfig c = StandaloneConfig.load(List.of(), Map.of("EXTEND_ADMIN_TOKEN", "very-secret-admin-token",
        "EXTEND_JDBC_URL", "jdbc:mysql://db/extend?user=x&password=hunter2"));
    assertThat(c.describe()).doesNotContain("very-secret-admin-token").doesNotContain("hunter2");
    StandaloneConfig registry = StandaloneConfig.load(List.of(), Map.of(
        "EXTEND_NPM_REGISTRY", "https://ci:s3cr3t@npm.internal/",
        "EXTEND_JDBC_URL", "jdbc:mysql://extend:pw-in-url@db/extend"));
    assertThat(registry.describe()).doesNotContain("s3cr3t").doesNotContain("pw-in-url")
        .contains("https://****@npm.internal/");
    // nor in the error that names a wrong value
    assertThatThrownBy(() -> StandaloneConfig.load(List.of(), Map.of("EXTEND_NPM_REGISTRY", "ftp://ci:s3cr3t@npm.internal/")))
        .hasMessageNotContaining("s3cr3t");
  }

  @Test
  void mistakesNameTheSetting() throws Exception {
    Path file = dir.resolve("typo.properties");
    Files.writeString(file, "extend.prot=9000\n");
    assertThatThrownBy(() -> StandaloneConfig.load(List.of("--config", file.toString()), Map.of()))
        .hasMessageContaining("extend.prot");
    assertThatThrownBy(() -> StandaloneConfig.load(List.of(), Map.of("EXTEND_RUNTIME", "docker")))
        .hasMessageContaining("EXTEND_RUNTIME");
    assertThatThrownBy(() -> StandaloneConfig.load(List.of(), Map.of("EXTEND_POOL_SIZE", "many")))
        .hasMessageContaining("EXTEND_POOL_SIZE");
    assertThatThrownBy(() -> StandaloneConfig.load(List.of("--verbose"), Map.of()))
        .hasMessageContaining("--verbose");
    assertThatThrownBy(() -> StandaloneConfig.load(List.of(), Map.of("EXTEND_NPM_REGISTRY", "registry.local")))
        .hasMessageContaining("EXTEND_NPM_REGISTRY");
  }

  @Test
  void npmRegistryForModuleBuilds() throws Exception {
    assertThat(StandaloneConfig.load(List.of(), Map.of()).npmRegistry()).isNull();
    assertThat(StandaloneConfig.load(List.of(), Map.of("EXTEND_NPM_REGISTRY", "http://127.0.0.1:4873/")).npmRegistry())
        .hasToString("http://127.0.0.1:4873/");
  }

  @Test
  void egressSettingsAreReadAndRefusedNamingTheVariable() throws Exception {
    StandaloneConfig defaults = StandaloneConfig.load(List.of(), Map.of());
    assertThat(defaults.egress()).isEqualTo(dev.extend.EgressPolicy.PUBLIC);
    StandaloneConfig set = StandaloneConfig.load(List.of(), Map.of("EXTEND_EGRESS", "allowlist",
        "EXTEND_EGRESS_ALLOW", "api.slack.com:443, 203.0.113.0/24 ,,[2001:db8::/32]:443"));
    assertThat(set.egress().mode()).isEqualTo(dev.extend.EgressPolicy.Mode.ALLOWLIST);
    assertThat(set.egress().allowStrings()).hasSize(3).startsWith("api.slack.com:443", "203.0.113.0/24");

    assertThatThrownBy(() -> StandaloneConfig.load(List.of(), Map.of("EXTEND_EGRESS", "open")))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("EXTEND_EGRESS must be")
        .hasMessageContaining("'open'");
    assertThatThrownBy(() -> StandaloneConfig.load(List.of(), Map.of("EXTEND_EGRESS_ALLOW", "ok.example.com,no good")))
        .isInstanceOf(IllegalArgumentException.class).hasMessageStartingWith("EXTEND_EGRESS_ALLOW:")
        .hasMessageContaining("no good");
  }

  @Test
  void theExampleConfigurationLoads() throws Exception {
    Path example = Path.of("..", "examples", "standalone", "extend.properties");
    StandaloneConfig c = StandaloneConfig.load(List.of("--config", example.toString()), Map.of());
    assertThat(c.port()).isEqualTo(8080);
    assertThat(c.runtime()).isEqualTo("auto");
    assertThat(c.egress()).isEqualTo(dev.extend.EgressPolicy.PUBLIC);
  }
}
