package dev.extend.jdbc;

import static org.assertj.core.api.Assertions.assertThat;

import dev.extend.WebhookRef;
import dev.extend.spi.FunctionStore;
import dev.extend.spi.WebhookRecord;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * An acknowledged write is durable: a child JVM ({@link AcknowledgedWriter}) opens the storage
 * as the platform does and writes webhooks from several threads; after a burst of acknowledged
 * writes, with writes still going, it gets {@code SIGKILL} (no shutdown hook, no close). The
 * database, reopened here, must hold every acknowledged write at its acknowledged version (or
 * the one after it, whose put may have committed without its acknowledgement reaching us).
 * Subclasses say which database.
 */
abstract class KillDuringWritesSupport {

  /** Acknowledged writes before the kill. */
  static final int ACKS_BEFORE_KILL = 800;
  static final int WRITER_THREADS = 4;

  @TempDir
  Path tmp;

  /** The child's environment besides {@code PATH}: it decides the database. */
  abstract Map<String, String> childEnvironment(Path dataDir);

  /** Opens the database the child wrote, as the restarted platform would. */
  abstract JdbcStorage reopen(Path dataDir) throws Exception;

  @Test
  @Timeout(value = 3, unit = TimeUnit.MINUTES)
  void everyAcknowledgedWriteSurvivesAKillOfTheWritingJvm() throws Exception {
    Path dataDir = tmp.resolve("data");
    Path childLog = tmp.resolve("child.log");
    String java = ProcessHandle.current().info().command().orElseThrow();
    ProcessBuilder pb = new ProcessBuilder(java, "-Xmx256m", "-cp", System.getProperty("java.class.path"),
        AcknowledgedWriter.class.getName(), dataDir.toString(), Integer.toString(WRITER_THREADS))
        .redirectError(childLog.toFile());
    pb.environment().clear();
    pb.environment().put("PATH", System.getenv("PATH"));
    pb.environment().putAll(childEnvironment(dataDir));
    Process child = pb.start();
    // Bounded however the child behaves: past the deadline it is killed, its output ends.
    CompletableFuture.delayedExecutor(150, TimeUnit.SECONDS).execute(child::destroyForcibly);

    Map<String, Long> acknowledged = new TreeMap<>();
    int acks = 0;
    int acksAfterKill = 0;
    boolean killed = false;
    long readyAt = 0;
    long burstMillis = 0;
    try (BufferedReader out = new BufferedReader(new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8))) {
      String line;
      while ((line = out.readLine()) != null) {
        if (line.startsWith("ACK ")) {
          String[] parts = line.split(" ");
          acknowledged.merge(parts[1], Long.parseLong(parts[2]), Math::max);
          acks++;
          if (killed) {
            acksAfterKill++; // acknowledged before the kill landed, still in the pipe
          }
        } else if (line.equals("READY")) {
          readyAt = System.nanoTime();
        } else {
          throw new AssertionError("child said '" + line + "'; its log:\n" + tail(childLog));
        }
        if (!killed && acks >= ACKS_BEFORE_KILL) {
          assertThat(child.isAlive()).as("the child is still writing").isTrue();
          // SIGKILL through the handle: Process.destroyForcibly() would also close our end of
          // the pipe, losing the acknowledgements the child wrote just before it died.
          assertThat(child.toHandle().destroyForcibly()).isTrue();
          killed = true;
          burstMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - readyAt);
        }
      }
    }
    assertThat(child.waitFor(30, TimeUnit.SECONDS)).isTrue();
    assertThat(killed).as("the child acknowledged %d writes before it ended; its log:\n%s", acks, tail(childLog))
        .isTrue();
    assertThat(child.exitValue()).as("exit status of a JVM killed by SIGKILL").isEqualTo(128 + 9);

    List<String> lost = new ArrayList<>();
    long lostWrites = 0;
    try (JdbcStorage storage = reopen(dataDir)) {
      FunctionStore store = storage.functionStore();
      for (Map.Entry<String, Long> e : acknowledged.entrySet()) {
        long ackedVersion = e.getValue();
        Optional<WebhookRecord> found = store.get(WebhookRef.of(AcknowledgedWriter.CONTAINER, e.getKey()));
        long stored = found.map(WebhookRecord::version).orElse(0L);
        if (stored < ackedVersion) {
          lost.add(e.getKey() + " acknowledged at v" + ackedVersion + ", stored " + (stored == 0 ? "nothing" : "v" + stored));
          lostWrites += ackedVersion - stored;
          continue;
        }
        assertThat(stored).as("%s: at most the one unacknowledged put after v%d committed", e.getKey(), ackedVersion)
            .isLessThanOrEqualTo(ackedVersion + 1);
        WebhookRecord expected = AcknowledgedWriter.record(e.getKey(), stored);
        WebhookRecord actual = found.orElseThrow();
        assertThat(actual.code()).isEqualTo(expected.code());
        assertThat(actual.secrets()).isEqualTo(expected.secrets());
        assertThat(actual.meta()).isEqualTo(expected.meta());
      }
    }
    System.out.printf("%s: %d writes acknowledged in %d ms (%d of them read after the kill), %d webhooks;"
        + " lost %d writes of %d webhooks%n", getClass().getSimpleName(), acks, burstMillis, acksAfterKill,
        acknowledged.size(), lostWrites, lost.size());
    assertThat(lost.subList(0, Math.min(20, lost.size())))
        .as("acknowledged writes lost after SIGKILL: %d of %d writes (%d of %d webhooks; the first 20 shown)",
            lostWrites, acks, lost.size(), acknowledged.size())
        .isEmpty();
  }

  private static String tail(Path log) throws IOException {
    if (!Files.exists(log)) {
      return "(no log)";
    }
    List<String> lines = Files.readAllLines(log);
    return String.join("\n", lines.subList(Math.max(0, lines.size() - 40), lines.size()));
  }
}
