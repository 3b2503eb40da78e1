package dev.extend.jdbc;

import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;

/** {@link KillDuringWritesSupport} on a fresh database of the shared MariaDB server. */
class KillDuringWritesMariaDbTest extends KillDuringWritesSupport {
  private static final SecretKeyRing KEYS = SecretKeyRing.generate("durable");

  private String database;

  @Override
  Map<String, String> childEnvironment(Path dataDir) {
    database = SharedMariaDb.createDatabase();
    return Map.of(
        "EXTEND_JDBC_URL", SharedMariaDb.url(database),
        "EXTEND_JDBC_USER", SharedMariaDb.USER,
        "EXTEND_JDBC_PASSWORD", SharedMariaDb.PASSWORD,
        SecretKeyRing.ENV, KEYS.toSpec());
  }

  @Override
  JdbcStorage reopen(Path dataDir) {
    return SharedMariaDb.open(database, KEYS);
  }

  @AfterEach
  void drop() {
    SharedMariaDb.dropDatabase(database);
  }
}
