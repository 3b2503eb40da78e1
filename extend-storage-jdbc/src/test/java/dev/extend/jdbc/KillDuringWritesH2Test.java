package dev.extend.jdbc;

import java.nio.file.Path;
import java.util.Map;

/**
 * {@link KillDuringWritesSupport} on the embedded default: the H2 file database in the data
 * directory, with the key file generated there, opened by the child and reopened here through
 * {@link JdbcStorage#fromEnvironment} with no {@code EXTEND_JDBC_URL}.
 */
class KillDuringWritesH2Test extends KillDuringWritesSupport {
  @Override
  Map<String, String> childEnvironment(Path dataDir) {
    return Map.of();
  }

  @Override
  JdbcStorage reopen(Path dataDir) throws Exception {
    return JdbcStorage.fromEnvironment(Map.of(), dataDir);
  }
}
