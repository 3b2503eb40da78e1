package dev.extend.jdbc;

import java.sql.SQLException;
import java.util.Locale;
import java.util.Map;

/**
 * Everything that differs between the databases we support, in one place. The SQL itself is
 * shared: H2 runs in MySQL mode, and both understand {@code LIMIT}, {@code FOR UPDATE SKIP
 * LOCKED} and the column types of the schema.
 */
enum Dialect {
  /** H2 2.x in MySQL mode: the embedded default. */
  H2(""),
  /** MySQL 8 and MariaDB 10.6+ through Connector/J. */
  MYSQL("ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin");

  // Binary collation: names compare like Java strings (case-sensitive, by code point), so
  // "Foo" and "foo" are two webhooks and list order matches the in-memory store.
  private final String tableOptions;

  Dialect(String tableOptions) {
    this.tableOptions = tableOptions;
  }

  /** The dialect of a JDBC URL. */
  static Dialect of(String jdbcUrl) {
    String url = jdbcUrl.toLowerCase(Locale.ROOT);
    if (url.startsWith("jdbc:h2:")) {
      return H2;
    }
    if (url.startsWith("jdbc:mysql:") || url.startsWith("jdbc:mariadb:")) {
      return MYSQL;
    }
    throw new IllegalArgumentException(
        "jdbcUrl: unsupported database '" + jdbcUrl + "' (expected jdbc:h2:..., jdbc:mysql:...)");
  }

  /** Placeholders substituted into the migration scripts. */
  Map<String, String> placeholders() {
    return Map.of("table_options", tableOptions);
  }

  /** Driver properties that make an outage surface quickly. */
  Map<String, String> driverProperties(long connectTimeoutMs, long socketTimeoutMs) {
    if (this == MYSQL) {
      return Map.of(
          "connectTimeout", Long.toString(connectTimeoutMs),
          "socketTimeout", Long.toString(socketTimeoutMs),
          "tcpKeepAlive", "true",
          "useUnicode", "true",
          "characterEncoding", "UTF-8",
          "cachePrepStmts", "true",
          "useServerPrepStmts", "false");
    }
    return Map.of();
  }

  /** Whether an exception reports a duplicate primary or unique key. */
  boolean isDuplicateKey(SQLException e) {
    for (SQLException s = e; s != null; s = s.getNextException()) {
      // H2 uses the standard state 23505; MySQL and MariaDB report error 1062 (state 23000).
      if (this == H2 ? "23505".equals(s.getSQLState()) : s.getErrorCode() == 1062) {
        return true;
      }
    }
    return false;
  }
}
