package dev.extend.bench;

import dev.extend.containerd.ContainerdRuntime;
import dev.extend.jdbc.JdbcStorage;
import dev.extend.jdbc.SecretKeyRing;
import dev.extend.spi.SandboxRuntime;
import dev.extend.testing.ContainerdFixture;
import java.io.IOException;
import java.net.URI;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.HexFormat;
import java.util.concurrent.ThreadLocalRandom;

/** The runtime and store the bench runs on, and what must be undone afterwards. */
final class Environment implements AutoCloseable {
  static final String NAMESPACE = "extend";

  SandboxRuntime runtime;
  String runtimeDescription;
  ContainerdFixture containerd;
  JdbcStorage storage;
  String storeDescription = "in memory (embedded default)";
  private String mysqlAdminUrl;
  private String mysqlUser;
  private String mysqlPassword;
  private String mysqlDatabase;

  /** Chooses the runtime: local, containerd (a socket that answers, else a private daemon), or auto. */
  void runtime(Options o, String nodeId, Path dataDir, StringBuilder log) throws Exception {
    if (o.runtime.equals("local")) {
      runtime = SandboxRuntime.localProcesses();
      runtimeDescription = "local processes (not isolating)";
      return;
    }
    Exception failure = null;
    Path socket = null;
    String how = null;
    String env = System.getenv("EXTEND_CONTAINERD_SOCKET");
    for (String candidate : new String[] {env, "/run/containerd/containerd.sock"}) {
      if (candidate != null && !candidate.isBlank() && ContainerdFixture.answers(Path.of(candidate))) {
        socket = Path.of(candidate);
        how = "containerd at " + socket;
        break;
      }
    }
    if (socket == null) {
      try {
        containerd = ContainerdFixture.start();
        socket = containerd.socket();
        how = "containerd, private daemon at " + socket;
      } catch (Exception | Error e) {
        // JUnit's assumption failure (an Error subclass is not used; it is a RuntimeException)
        failure = e instanceof Exception ex ? ex : new IllegalStateException(e);
      }
    }
    if (socket != null) {
      ContainerdRuntime rt = ContainerdRuntime.builder().socket(socket).namespace(NAMESPACE).nodeId(nodeId)
          .dataDir(dataDir).build();
      // A busy machine can miss the health check's short deadline: ask again for a while.
      String problem = rt.problem();
      for (long end = System.nanoTime() + 20_000_000_000L; problem != null && System.nanoTime() < end; ) {
        Thread.sleep(500);
        problem = rt.problem();
      }
      if (problem == null) {
        runtime = rt;
        runtimeDescription = how + " (namespace " + NAMESPACE + ")";
        return;
      }
      rt.close();
      failure = new IllegalStateException(problem);
    }
    if (o.runtime.equals("containerd")) {
      throw new IllegalStateException("--runtime containerd, but containerd is not usable: "
          + (failure == null ? "no socket" : failure.getMessage()), failure);
    }
    log.append("containerd not usable (").append(failure == null ? "no socket" : failure.getMessage())
        .append("); using the local runtime");
    runtime = SandboxRuntime.localProcesses();
    runtimeDescription = "local processes (auto: containerd not usable)";
  }

  boolean containerd() {
    return runtime instanceof ContainerdRuntime;
  }

  /** Opens the store named by {@code --jdbc}: memory, h2, or mysql://[user[:password]@]host[:port]. */
  void storage(Options o, Path dataDir) throws IOException, SQLException {
    String spec = o.jdbc;
    if (spec.equals("memory")) {
      return;
    }
    SecretKeyRing keys = SecretKeyRing.generate("bench");
    if (spec.equals("h2")) {
      storage = JdbcStorage.h2(dataDir.resolve("h2"), keys);
      storeDescription = "JDBC, H2 file database in " + dataDir.resolve("h2");
      return;
    }
    if (!spec.startsWith("mysql://")) {
      throw new IllegalArgumentException("--jdbc must be memory, h2 or mysql://[user[:password]@]host[:port], was " + spec);
    }
    URI uri = URI.create(spec);
    String user = "root";
    String password = "";
    if (uri.getRawUserInfo() != null) {
      String[] up = uri.getRawUserInfo().split(":", 2);
      user = URLDecoder.decode(up[0], StandardCharsets.UTF_8);
      password = up.length > 1 ? URLDecoder.decode(up[1], StandardCharsets.UTF_8) : "";
    }
    String host = uri.getHost() == null ? "127.0.0.1" : uri.getHost();
    int port = uri.getPort() < 0 ? 3306 : uri.getPort();
    mysqlAdminUrl = "jdbc:mysql://" + host + ":" + port + "/";
    mysqlUser = user;
    mysqlPassword = password;
    mysqlDatabase = "extend_bench_" + HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextInt());
    try (Connection c = DriverManager.getConnection(mysqlAdminUrl, user, password); Statement s = c.createStatement()) {
      s.execute("CREATE DATABASE " + mysqlDatabase + " CHARACTER SET utf8mb4 COLLATE utf8mb4_bin");
    }
    storage = JdbcStorage.builder().jdbcUrl(mysqlAdminUrl + mysqlDatabase).user(user).password(password)
        .secretKeys(keys).build();
    storeDescription = "JDBC, MySQL protocol at " + host + ":" + port + ", temporary database " + mysqlDatabase;
  }

  @Override
  public void close() {
    if (storage != null) {
      storage.close();
    }
    if (mysqlDatabase != null) {
      try (Connection c = DriverManager.getConnection(mysqlAdminUrl, mysqlUser, mysqlPassword);
          Statement s = c.createStatement()) {
        s.execute("DROP DATABASE IF EXISTS " + mysqlDatabase);
      } catch (SQLException e) {
        System.err.println("[bench] could not drop database " + mysqlDatabase + ": " + e.getMessage());
      }
    }
    if (runtime != null) {
      runtime.close();
    }
    if (containerd != null) {
      try {
        containerd.close();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }

  static void deleteTree(Path dir) {
    if (dir == null || !Files.exists(dir)) {
      return;
    }
    try (var s = Files.walk(dir)) {
      s.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    } catch (IOException | java.io.UncheckedIOException e) {
      // temporary files of a finished run
    }
  }
}
