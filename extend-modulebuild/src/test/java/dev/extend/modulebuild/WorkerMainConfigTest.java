package dev.extend.modulebuild;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.URI;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;

class WorkerMainConfigTest {
  private static final String URL = "jdbc:mysql://db:3306/extend";

  @Test
  void defaults() {
    WorkerMain.Config c = WorkerMain.Config.from(Map.of("EXTEND_JDBC_URL", URL));
    assertThat(c.workers()).isEqualTo(1);
    assertThat(c.timeout()).isEqualTo(Duration.ofMinutes(5));
    assertThat(c.maxModuleBytes()).isEqualTo(256L << 20);
    assertThat(c.registry()).isNull();
    assertThat(c.runtime()).isEqualTo("auto");
    assertThat(c.workerId()).startsWith("worker-");
    assertThat(c.dataDir().isAbsolute()).isTrue();
    assertThat(c.npmrc()).isNull();
    assertThat(c.privateScopes()).isEmpty();
  }

  @Test
  void registryCredentialsAndPrivateScopes() {
    WorkerMain.Config c = WorkerMain.Config.from(Map.of("EXTEND_JDBC_URL", URL, "EXTEND_NPMRC_FILE", "/etc/extend/npmrc",
        "EXTEND_PRIVATE_SCOPES", "corp, @internal"));
    assertThat(c.npmrc()).isEqualTo(java.nio.file.Path.of("/etc/extend/npmrc"));
    assertThat(c.privateScopes()).containsExactly("corp", "internal");
    assertThatThrownBy(() -> WorkerMain.Config.from(Map.of("EXTEND_JDBC_URL", URL, "EXTEND_PRIVATE_SCOPES", "Not A Scope")))
        .hasMessageStartingWith("EXTEND_PRIVATE_SCOPES must be scope names");
  }

  @Test
  void settingsAreRead() {
    WorkerMain.Config c = WorkerMain.Config.from(Map.of("EXTEND_JDBC_URL", URL, "EXTEND_BUILD_WORKERS", "3",
        "EXTEND_BUILD_TIMEOUT_SECONDS", "60", "EXTEND_MAX_MODULE_BYTES", "1048576",
        "EXTEND_NPM_REGISTRY", "http://npm.internal:4873/", "EXTEND_RUNTIME", "Local", "EXTEND_WORKER_ID", "w1"));
    assertThat(c.workers()).isEqualTo(3);
    assertThat(c.timeout()).isEqualTo(Duration.ofSeconds(60));
    assertThat(c.maxModuleBytes()).isEqualTo(1048576);
    assertThat(c.registry()).isEqualTo(URI.create("http://npm.internal:4873/"));
    assertThat(c.runtime()).isEqualTo("local");
    assertThat(c.workerId()).isEqualTo("w1");
  }

  @Test
  void errorsNameTheSetting() {
    assertThatThrownBy(() -> WorkerMain.Config.from(Map.of())).hasMessageContaining("EXTEND_JDBC_URL is required");
    assertThatThrownBy(() -> WorkerMain.Config.from(Map.of("EXTEND_JDBC_URL", URL, "EXTEND_BUILD_WORKERS", "many")))
        .hasMessage("EXTEND_BUILD_WORKERS must be a number, was 'many'");
    assertThatThrownBy(() -> WorkerMain.Config.from(Map.of("EXTEND_JDBC_URL", URL, "EXTEND_BUILD_WORKERS", "0")))
        .hasMessage("EXTEND_BUILD_WORKERS must be between 1 and 16, was 0");
    assertThatThrownBy(() -> WorkerMain.Config.from(Map.of("EXTEND_JDBC_URL", URL, "EXTEND_RUNTIME", "docker")))
        .hasMessageContaining("EXTEND_RUNTIME must be auto, containerd or local");
    assertThatThrownBy(() -> WorkerMain.Config.from(Map.of("EXTEND_JDBC_URL", URL, "EXTEND_WORKER_ID", "a b")))
        .hasMessageContaining("EXTEND_WORKER_ID");
  }
}
