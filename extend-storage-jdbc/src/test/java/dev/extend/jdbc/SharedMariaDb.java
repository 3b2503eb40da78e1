package dev.extend.jdbc;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.HexFormat;
import java.util.concurrent.ThreadLocalRandom;
import org.junit.jupiter.api.Assumptions;

/**
 * The MariaDB server the tests share (127.0.0.1:3306, root, no password). Each user gets a
 * fresh database {@code extend_test_<random>} and drops it. Without the server the test is
 * skipped with a message, unless {@code CI=true}: then it fails.
 */
final class SharedMariaDb {
  static final String HOST = "127.0.0.1";
  static final int PORT = 3306;
  static final String USER = "root";
  static final String PASSWORD = "";

  private SharedMariaDb() {}

  /** Skips (or, on CI, fails) the calling test when the server is not reachable. */
  static void require() {
    try (Socket s = new Socket()) {
      s.connect(new InetSocketAddress(HOST, PORT), 1000);
    } catch (IOException e) {
      String message = "MariaDB is not reachable at " + HOST + ":" + PORT + " (" + e.getMessage() + ")";
      if ("true".equalsIgnoreCase(System.getenv("CI"))) {
        fail(message + "; with CI=true the database tests must run");
      }
      Assumptions.abort(message + ": skipping the MariaDB tests");
    }
  }

  /** The URL of a database on the shared server. */
  static String url(String database) {
    return "jdbc:mysql://" + HOST + ":" + PORT + "/" + database;
  }

  /** Creates a fresh, empty database and returns its name. */
  static String createDatabase() {
    require();
    byte[] random = new byte[6];
    ThreadLocalRandom.current().nextBytes(random);
    String name = "extend_test_" + HexFormat.of().formatHex(random);
    execute("CREATE DATABASE " + name + " CHARACTER SET utf8mb4 COLLATE utf8mb4_bin");
    return name;
  }

  /** Drops a database created by {@link #createDatabase()}. */
  static void dropDatabase(String name) {
    if (name != null && name.startsWith("extend_test_")) {
      execute("DROP DATABASE IF EXISTS " + name);
    }
  }

  /** A plain JDBC connection (no pool, no Extend code) to a database on the shared server. */
  static Connection connect(String database) throws SQLException {
    return DriverManager.getConnection(url(database), USER, PASSWORD);
  }

  private static void execute(String sql) {
    try (Connection c = DriverManager.getConnection("jdbc:mysql://" + HOST + ":" + PORT + "/", USER, PASSWORD);
        Statement s = c.createStatement()) {
      s.execute(sql);
    } catch (SQLException e) {
      throw new IllegalStateException(sql + ": " + e.getMessage(), e);
    }
  }

  /** Storage on a database of the shared server. */
  static JdbcStorage open(String database, SecretKeyRing keys) {
    return JdbcStorage.builder().jdbcUrl(url(database)).user(USER).password(PASSWORD).poolSize(8)
        .secretKeys(keys).build();
  }
}
