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

  /** A user of the shared server with a password, made by {@link #createUser}. */
  record User(String name, String password) {}

  /**
   * Creates a user {@code extend_u_<random>} with a random password and every privilege on
   * {@code database}, for connections from 127.0.0.1 (as the server may see them: by address or
   * as localhost).
   */
  static User createUser(String database) {
    require();
    byte[] random = new byte[12];
    ThreadLocalRandom.current().nextBytes(random);
    String hex = HexFormat.of().formatHex(random);
    User user = new User("extend_u_" + hex.substring(0, 8), "pw-" + hex);
    for (String host : new String[] {"127.0.0.1", "localhost"}) {
      execute("CREATE USER '" + user.name() + "'@'" + host + "' IDENTIFIED BY '" + user.password() + "'");
      execute("GRANT ALL PRIVILEGES ON " + database + ".* TO '" + user.name() + "'@'" + host + "'");
    }
    return user;
  }

  /** Drops a user made by {@link #createUser}. */
  static void dropUser(User user) {
    if (user != null && user.name().startsWith("extend_u_")) {
      for (String host : new String[] {"127.0.0.1", "localhost"}) {
        execute("DROP USER IF EXISTS '" + user.name() + "'@'" + host + "'");
      }
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
