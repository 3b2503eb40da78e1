package dev.extend.jdbc;

import dev.extend.spi.Storage;
import dev.extend.spi.StorageProvider;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Opens the {@link JdbcStorage} (priority 100) of a platform that was given no storage, with the
 * standalone server's settings: the database {@code EXTEND_JDBC_URL} names (with {@code
 * EXTEND_JDBC_USER}, {@code EXTEND_JDBC_PASSWORD}, {@code EXTEND_JDBC_POOL_SIZE}), else the H2
 * file database {@code <dataDir>/extend.mv.db}; the secret keys from {@code EXTEND_SECRET_KEYS},
 * else the file {@code EXTEND_SECRET_KEYS_FILE} names, else {@code <dataDir>/secret.keys}
 * (created at the first start). Each setting is a Java system property of that name, else the
 * environment variable. A database that cannot be opened fails the platform's start: it is
 * never replaced by memory.
 */
public final class JdbcStorageProvider implements StorageProvider {
  /** The settings read, as {@link JdbcStorage#fromEnvironment} names them. */
  static final List<String> SETTINGS = List.of("EXTEND_JDBC_URL", "EXTEND_JDBC_USER", "EXTEND_JDBC_PASSWORD",
      "EXTEND_JDBC_POOL_SIZE", SecretKeyRing.ENV, SecretKeyRing.ENV_FILE);

  /** Used by {@link java.util.ServiceLoader}. */
  public JdbcStorageProvider() {}

  @Override
  public int priority() {
    return 100;
  }

  @Override
  public Optional<Storage> create(Context context) {
    Map<String, String> settings = new LinkedHashMap<>();
    for (String name : SETTINGS) {
      String value = context.setting(name);
      if (value != null) {
        settings.put(name, value);
      }
    }
    try {
      return Optional.of(JdbcStorage.fromEnvironment(settings, context.dataDir()));
    } catch (IOException e) {
      throw new UncheckedIOException("storage: cannot open the H2 database or the secret keys in "
          + context.dataDir() + ": " + e.getMessage(), e);
    }
  }
}
