package dev.extend.jdbc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.extend.ContainerName;
import dev.extend.EgressPolicy;
import dev.extend.spi.Storage;
import dev.extend.spi.StorageProvider;
import java.nio.file.Path;
import java.util.Map;
import java.util.ServiceLoader;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The storage a platform given no stores opens when extend-storage-jdbc is on the class path. */
class JdbcStorageProviderH2Test {
  @TempDir
  Path dir;

  private static StorageProvider.Context context(Path dataDir, Map<String, String> settings) {
    return new StorageProvider.Context("n1", dataDir, settings::get);
  }

  @Test
  void serviceLoaderFindsIt() {
    assertThat(ServiceLoader.load(StorageProvider.class).stream().map(ServiceLoader.Provider::type))
        .contains(JdbcStorageProvider.class);
  }

  @Test
  void withoutSettingsAnH2DatabaseAndSecretKeysInTheDataDir() {
    Path data = dir.resolve("data");
    try (Storage s = new JdbcStorageProvider().create(context(data, Map.of())).orElseThrow()) {
      assertThat(s).isInstanceOf(JdbcStorage.class);
      assertThat(((JdbcStorage) s).databaseName()).isEqualTo("jdbc:h2:file:" + data.toAbsolutePath().resolve("extend"));
      s.egressStore().put(ContainerName.of("acme"), EgressPolicy.NONE);
    }
    assertThat(data.resolve("extend.mv.db")).isRegularFile();
    assertThat(data.resolve("secret.keys")).isRegularFile();
    // opened again: the same database
    try (Storage s = new JdbcStorageProvider().create(context(data, Map.of())).orElseThrow()) {
      assertThat(s.egressStore().get(ContainerName.of("acme"))).isPresent();
    }
  }

  @Test
  void theStandaloneServersSettingsNameTheDatabaseAndTheKeys() {
    Path elsewhere = dir.resolve("db").resolve("shared");
    String keys = SecretKeyRing.generate("k7").toSpec();
    try (Storage s = new JdbcStorageProvider().create(context(dir.resolve("data"), Map.of(
        "EXTEND_JDBC_URL", "jdbc:h2:file:" + elsewhere, "EXTEND_JDBC_USER", "sa",
        "EXTEND_JDBC_POOL_SIZE", "3", SecretKeyRing.ENV, keys))).orElseThrow()) {
      assertThat(((JdbcStorage) s).databaseName()).isEqualTo("jdbc:h2:file:" + elsewhere);
    }
    assertThat(dir.resolve("db/shared.mv.db")).isRegularFile();
    assertThat(dir.resolve("data/secret.keys")).doesNotExist();
  }

  @Test
  void aBadSettingFailsNamingIt() {
    assertThatThrownBy(() -> new JdbcStorageProvider().create(context(dir, Map.of(
        "EXTEND_JDBC_URL", "jdbc:h2:file:" + dir.resolve("db"), "EXTEND_JDBC_POOL_SIZE", "many"))))
        .hasMessageContaining("EXTEND_JDBC_POOL_SIZE");
    assertThatThrownBy(() -> new JdbcStorageProvider().create(context(dir, Map.of("EXTEND_JDBC_URL", "jdbc:nosuch:x"))))
        .hasMessageContaining("jdbc:nosuch:x");
  }
}
