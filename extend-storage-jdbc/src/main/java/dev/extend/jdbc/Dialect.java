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
        "jdbcUrl: unsupported database '" + JdbcStorage.displayName(jdbcUrl)
            + "' (expected jdbc:h2:..., jdbc:mysql:... or jdbc:mariadb:...)");
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

  /** Whether the database refused the login (wrong user or password, or no access to the database). */
  boolean isLoginRefused(SQLException e) {
    for (SQLException s = e; s != null; s = s.getNextException()) {
      // SQL state class 28: invalid authorization (H2 and MySQL). MySQL also reports access denied
      // to the database (1044) and a user without access from this host (1045, 1698).
      String state = s.getSQLState();
      if (state != null && state.startsWith("28")) {
        return true;
      }
      if (this == MYSQL && (s.getErrorCode() == 1044 || s.getErrorCode() == 1045 || s.getErrorCode() == 1698)) {
        return true;
      }
    }
    return false;
  }

  /** Whether the database named in the URL does not exist. */
  boolean isUnknownDatabase(SQLException e) {
    for (SQLException s = e; s != null; s = s.getNextException()) {
      // MySQL: ER_BAD_DB_ERROR; H2: "database not found" (with IFEXISTS=TRUE, or remote creation refused).
      if (this == MYSQL ? s.getErrorCode() == 1049 : s.getErrorCode() == 90013 || s.getErrorCode() == 90146
          || s.getErrorCode() == 90149) {
        return true;
      }
    }
    return false;
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
