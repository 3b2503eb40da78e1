package dev.extend.modulebuild;

import static org.assertj.core.api.Assertions.assertThat;

import dev.extend.ModuleRef;
import dev.extend.ModuleState;
import dev.extend.internal.modules.TarGz;
import dev.extend.jdbc.JdbcStorage;
import dev.extend.jdbc.SecretKeyRing;
import dev.extend.spi.ModuleRecord;
import dev.extend.testing.LocalNpmRegistry;
import dev.extend.testing.NpmFixtures;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The standalone worker as a separate JVM ({@code java -cp ... WorkerMain}) against MariaDB at
 * 127.0.0.1:3306 (a database of the test's own, dropped afterwards), building fixture packages
 * from a local npm registry for jobs a "server" queued in the shared database.
 */
class WorkerMainMariaDbTest {
  private static final String SERVER = "jdbc:mysql://127.0.0.1:3306/";

  @TempDir Path tmp;
  private String database;
  /** Modules are built per ABI: the default runtime's. */
  private static final ModuleRef TOP = NpmFixtures.TRANSITIVE.forAbi(dev.extend.testing.TestRuntimes.runtime().abi());
  private static final ModuleRef BROKEN = NpmFixtures.FAILING_INSTALL.forAbi(dev.extend.testing.TestRuntimes.runtime().abi());
  private LocalNpmRegistry registry;
  private JdbcStorage storage;
  private Process worker;

  @BeforeEach
  void start() throws Exception {
    HostLayout.requireRuntime();
    database = "extend_worker_" + Long.toHexString(ThreadLocalRandom.current().nextLong() & Long.MAX_VALUE);
    try (Connection c = DriverManager.getConnection(SERVER + "?connectTimeout=2000", "root", "");
        Statement s = c.createStatement()) {
      s.execute("CREATE DATABASE " + database);
    } catch (SQLException e) {
      if ("true".equals(System.getenv("CI"))) {
        throw new AssertionError("MariaDB at 127.0.0.1:3306 is required (CI=true)", e);
      }
      Assumptions.abort("MariaDB at 127.0.0.1:3306 is not reachable: " + e.getMessage());
    }
    registry = LocalNpmRegistry.withFixtures();
  }

  @AfterEach
  void stop() throws Exception {
    if (worker != null && worker.isAlive()) {
      worker.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
    }
    if (storage != null) {
      storage.close();
    }
    if (registry != null) {
      registry.close();
    }
    if (database != null) {
      try (Connection c = DriverManager.getConnection(SERVER, "root", ""); Statement s = c.createStatement()) {
        s.execute("DROP DATABASE IF EXISTS " + database);
      }
    }
  }

  @Test
  void workerBuildsWhatTheServersQueue() throws Exception {
    String url = SERVER + database;
    String keys = SecretKeyRing.generate("k1").toSpec();
    storage = JdbcStorage.builder().jdbcUrl(url).user("root").password("").secretKeys(SecretKeyRing.parse(keys)).build();

    Path log = tmp.resolve("worker.log");
    ProcessBuilder pb = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-cp", System.getProperty("java.class.path"), WorkerMain.class.getName())
        .redirectErrorStream(true).redirectOutput(log.toFile());
    pb.environment().clear();
    pb.environment().putAll(Map.of(
        "PATH", System.getenv("PATH"),
        "EXTEND_JDBC_URL", url,
        "EXTEND_JDBC_USER", "root",
        "EXTEND_SECRET_KEYS", keys,
        "EXTEND_DATA_DIR", tmp.resolve("worker").toString(),
        "EXTEND_WORKER_ID", "worker-test",
        "EXTEND_BUILD_WORKERS", "2",
        "EXTEND_NPM_REGISTRY", registry.url().toString(),
        "EXTEND_RUNTIME", "local",
        // the verified runtimes tests share (the fixture registry serves no Node.js builds)
        "EXTEND_RUNTIMES_DIR", dev.extend.testing.TestRuntimes.dir().toString()));
    worker = pb.start();

    // What a server does on a webhook put: a record, then a queued job.
    for (ModuleRef m : new ModuleRef[] {TOP, BROKEN}) {
      assertThat(storage.moduleStore().createIfAbsent(m)).isTrue();
      assertThat(storage.buildQueue().enqueue(m)).isTrue();
    }

    ModuleRecord built = awaitSettled(TOP, log);
    assertThat(built.state()).as(Files.readString(log)).isEqualTo(ModuleState.READY);
    assertThat(built.log()).contains("worker-test").contains("packed");
    Path unpacked = Files.createDirectories(tmp.resolve("unpacked"));
    try (InputStream in = storage.artifactStore().open(built.artifact().digest()).orElseThrow()) {
      TarGz.unpack(in, unpacked);
    }
    assertThat(unpacked.resolve("node_modules/ext-top/index.js")).exists();
    assertThat(unpacked.resolve("node_modules/ext-leaf/index.js")).exists();

    ModuleRecord failed = awaitSettled(BROKEN, log);
    assertThat(failed.state()).isEqualTo(ModuleState.FAILED);
    assertThat(failed.log()).contains("cannot find the native toolchain");
    assertThat(storage.buildQueue().depth()).isZero();

    // SIGTERM stops it cleanly.
    worker.destroy();
    assertThat(worker.waitFor(30, TimeUnit.SECONDS)).as("worker stops on SIGTERM").isTrue();
    assertThat(Files.readString(log)).contains("build worker worker-test started").contains("stopping build worker");
  }

  private ModuleRecord awaitSettled(ModuleRef m, Path log) throws Exception {
    long end = System.nanoTime() + Duration.ofMinutes(2).toNanos();
    while (System.nanoTime() < end) {
      ModuleRecord r = storage.moduleStore().get(m).orElseThrow();
      if (r.state() == ModuleState.READY || r.state() == ModuleState.FAILED) {
        return r;
      }
      if (!worker.isAlive()) {
        throw new AssertionError("worker exited with " + worker.exitValue() + ":\n" + Files.readString(log));
      }
      Thread.sleep(200);
    }
    throw new AssertionError(m + " not built within 2 minutes; worker log:\n" + Files.readString(log));
  }
}
