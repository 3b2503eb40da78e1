package dev.extend.jdbc;

import dev.extend.Limits;
import dev.extend.ModuleRef;
import dev.extend.WebhookRef;
import dev.extend.spi.FunctionStore;
import dev.extend.spi.WebhookRecord;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;

/**
 * Prints the latency of webhook create, update, get and version on H2 (file) and on the shared
 * MariaDB: a measurement, not a test. Run with
 * {@code mvn -q -pl extend-storage-jdbc test-compile exec:java -Dexec.classpathScope=test
 * -Dexec.mainClass=dev.extend.jdbc.JdbcLatency}.
 */
public final class JdbcLatency {
  private static final int N = 1000;
  private static final int WARMUP = 200;

  private JdbcLatency() {}

  /** Runs the measurement. */
  public static void main(String[] args) throws Exception {
    SecretKeyRing keys = SecretKeyRing.generate("bench");
    System.out.printf("%-8s %-8s %8s %8s %8s %8s   (microseconds, %d operations each, one thread)%n",
        "db", "op", "mean", "p50", "p90", "p99", N);
    Path dir = Files.createTempDirectory("extend-latency-");
    try (JdbcStorage h2 = JdbcStorage.h2(dir, keys)) {
      measure("h2", h2.functionStore());
    } finally {
      dev.extend.testing.TempDirs.delete(dir);
    }
    String db = SharedMariaDb.createDatabase();
    try (JdbcStorage maria = SharedMariaDb.open(db, keys)) {
      measure("mariadb", maria.functionStore());
    } finally {
      SharedMariaDb.dropDatabase(db);
    }
  }

  private static WebhookRecord record(int i, String code) {
    return new WebhookRecord(WebhookRef.of("bench", "hook-" + i), code,
        List.of(new ModuleRef("lodash", "4.17.21")), Map.of("API_KEY", "secret-" + i, "OTHER", "x".repeat(200)),
        Map.of("plan", "gold"), new Limits(Duration.ofSeconds(30), 256), "node22", 0, null, null);
  }

  private static void measure(String name, FunctionStore store) {
    String code = "module.exports = async (ctx) => ({ok: true, n: " + "1".repeat(2000) + "});";
    for (int i = 0; i < WARMUP; i++) {
      store.put(record(-i - 1, code), OptionalLong.empty());
      store.get(record(-i - 1, code).ref());
    }
    long[] create = new long[N];
    long[] update = new long[N];
    long[] get = new long[N];
    long[] version = new long[N];
    for (int i = 0; i < N; i++) {
      long t0 = System.nanoTime();
      store.put(record(i, code), OptionalLong.empty());
      create[i] = System.nanoTime() - t0;
    }
    for (int i = 0; i < N; i++) {
      long t0 = System.nanoTime();
      store.put(record(i, code + "//2"), OptionalLong.of(1));
      update[i] = System.nanoTime() - t0;
    }
    for (int i = 0; i < N; i++) {
      WebhookRef ref = WebhookRef.of("bench", "hook-" + i);
      long t0 = System.nanoTime();
      store.get(ref).orElseThrow();
      get[i] = System.nanoTime() - t0;
      t0 = System.nanoTime();
      store.version(ref);
      version[i] = System.nanoTime() - t0;
    }
    row(name, "create", create);
    row(name, "update", update);
    row(name, "get", get);
    row(name, "version", version);
  }

  private static void row(String db, String op, long[] nanos) {
    long[] s = nanos.clone();
    Arrays.sort(s);
    System.out.printf("%-8s %-8s %8d %8d %8d %8d%n", db, op, Arrays.stream(s).sum() / s.length / 1000,
        s[s.length / 2] / 1000, s[s.length * 9 / 10] / 1000, s[s.length * 99 / 100] / 1000);
  }
}
