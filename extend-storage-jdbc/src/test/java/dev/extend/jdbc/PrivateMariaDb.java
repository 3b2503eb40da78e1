package dev.extend.jdbc;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;

/**
 * A MariaDB server of the test's own (data directory in a temporary directory, its own port
 * and socket), so that a test can stop and restart a database without touching the shared one.
 * Stopping kills only the process this class started.
 */
final class PrivateMariaDb implements AutoCloseable {
  private static final String INSTALL = "/usr/bin/mariadb-install-db";
  private static final String SERVER = "/usr/sbin/mariadbd";

  private final Path dir;
  private final int port;
  private Process process;

  private PrivateMariaDb(Path dir, int port) {
    this.dir = dir;
    this.port = port;
  }

  /** Initialises a data directory and starts the server; skips (or fails on CI) without MariaDB. */
  static PrivateMariaDb start() throws IOException, InterruptedException {
    if (!Files.isExecutable(Path.of(INSTALL)) || !Files.isExecutable(Path.of(SERVER))) {
      String message = "MariaDB server binaries (" + SERVER + ", " + INSTALL + ") are not installed";
      if ("true".equalsIgnoreCase(System.getenv("CI"))) {
        fail(message);
      }
      Assumptions.abort(message + ": skipping");
    }
    Path dir = Files.createTempDirectory("extend-mariadb-");
    Process install = new ProcessBuilder(INSTALL, "--no-defaults", "--datadir=" + dir.resolve("data"),
        "--auth-root-authentication-method=normal", "--user=" + System.getProperty("user.name"),
        "--skip-test-db")
        .redirectErrorStream(true).redirectOutput(dir.resolve("install.log").toFile()).start();
    if (!install.waitFor(120, TimeUnit.SECONDS) || install.exitValue() != 0) {
      install.destroyForcibly();
      throw new IOException("mariadb-install-db failed, see " + dir.resolve("install.log"));
    }
    PrivateMariaDb db = new PrivateMariaDb(dir, freePort());
    db.startServer();
    return db;
  }

  private static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }

  /** Starts the server on the same data directory and port (after {@link #kill()}). */
  void startServer() throws IOException, InterruptedException {
    if (process != null && process.isAlive()) {
      throw new IllegalStateException("already running");
    }
    process = new ProcessBuilder(List.of(SERVER, "--no-defaults", "--datadir=" + dir.resolve("data"),
        "--socket=" + dir.resolve("mysqld.sock"), "--port=" + port, "--bind-address=127.0.0.1",
        "--user=" + System.getProperty("user.name"), "--pid-file=" + dir.resolve("mysqld.pid"),
        "--log-error=" + dir.resolve("error.log"), "--skip-log-bin", "--innodb-buffer-pool-size=32M",
        "--max-connections=100"))
        .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.appendTo(dir.resolve("server.out").toFile()))
        .start();
    long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
    while (System.nanoTime() < deadline) {
      if (!process.isAlive()) {
        throw new IOException("mariadbd exited with " + process.exitValue() + ", see " + dir.resolve("error.log"));
      }
      try (Socket s = new Socket()) {
        s.connect(new InetSocketAddress("127.0.0.1", port), 200);
        return;
      } catch (IOException notYet) {
        Thread.sleep(100);
      }
    }
    throw new IOException("mariadbd did not listen on port " + port + " within 60 s");
  }

  /** Kills the server abruptly, like a crash or a network cut. */
  void kill() {
    if (process != null) {
      process.destroyForcibly();
      try {
        process.waitFor(30, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }

  int port() {
    return port;
  }

  /** The URL of a database on this server. */
  String url(String database) {
    return "jdbc:mysql://127.0.0.1:" + port + "/" + database;
  }

  /** Creates a database on this server. */
  void createDatabase(String name) throws java.sql.SQLException {
    try (var c = java.sql.DriverManager.getConnection("jdbc:mysql://127.0.0.1:" + port + "/", "root", "");
        var s = c.createStatement()) {
      s.execute("CREATE DATABASE " + name + " CHARACTER SET utf8mb4 COLLATE utf8mb4_bin");
    }
  }

  /** Stops the server and deletes its data directory. */
  @Override
  public void close() throws IOException {
    kill();
    dev.extend.testing.TempDirs.delete(dir);
  }
}
