package dev.extend.jdbc;

import dev.extend.Limits;
import dev.extend.WebhookRef;
import dev.extend.spi.FunctionStore;
import dev.extend.spi.WebhookRecord;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;

/**
 * The child JVM of {@link KillDuringWritesSupport}. Opens the storage as the standalone server
 * does ({@link JdbcStorage#fromEnvironment} over this process's environment and a data
 * directory: the H2 file database there unless {@code EXTEND_JDBC_URL} names another), prints
 * {@code READY}, then writes webhooks through {@link FunctionStore#put} from several threads and
 * prints {@code ACK <name> <version>} after each put returned, until it is killed. It stops by
 * itself after {@value #MAX_WRITES_PER_THREAD} writes per thread.
 *
 * <p>Each thread owns {@value #NAMES_PER_THREAD} webhooks and updates them in turn, so the
 * content of every version is known in advance ({@link #record}).
 *
 * <p>Arguments: the data directory, the number of writer threads.
 */
public final class AcknowledgedWriter {
  static final String CONTAINER = "durable";
  static final int NAMES_PER_THREAD = 25;
  static final int MAX_WRITES_PER_THREAD = 100_000;

  private AcknowledgedWriter() {}

  /** The webhook {@code name} as written at {@code version}. */
  static WebhookRecord record(String name, long version) {
    String code = "module.exports = async () => ({name: '" + name + "', version: " + version + "});\n"
        + "// " + "x".repeat(1024);
    return new WebhookRecord(WebhookRef.of(CONTAINER, name), code, List.of(),
        Map.of("TOKEN", name + "@" + version), Map.of("written", Long.toString(version)),
        new Limits(Duration.ofSeconds(5), 128), "node22", 0, null, null);
  }

  /** Runs the writer; see the class comment. */
  public static void main(String[] args) throws Exception {
    Path dataDir = Path.of(args[0]);
    int threads = Integer.parseInt(args[1]);
    // Unbuffered towards the pipe: a line is either in the pipe or was never acknowledged.
    PrintStream out = new PrintStream(new FileOutputStream(FileDescriptor.out), false, StandardCharsets.UTF_8);
    try (JdbcStorage storage = JdbcStorage.fromEnvironment(System.getenv(), dataDir)) {
      FunctionStore store = storage.functionStore();
      out.println("READY");
      out.flush();
      List<Thread> writers = new ArrayList<>();
      for (int t = 0; t < threads; t++) {
        int thread = t;
        Thread w = new Thread(() -> write(store, thread, out), "writer-" + t);
        w.start();
        writers.add(w);
      }
      for (Thread w : writers) {
        w.join();
      }
    }
    out.println("DONE");
    out.flush();
  }

  private static void write(FunctionStore store, int thread, PrintStream out) {
    for (int i = 0; i < MAX_WRITES_PER_THREAD; i++) {
      String name = "w" + thread + "-" + (i % NAMES_PER_THREAD);
      long expected = i / NAMES_PER_THREAD + 1;
      WebhookRecord stored = store.put(record(name, expected), OptionalLong.empty());
      synchronized (out) {
        if (stored.version() != expected) {
          out.println("ERROR " + name + " stored as version " + stored.version() + ", expected " + expected);
          out.flush();
          System.exit(3);
        }
        out.println("ACK " + name + " " + stored.version());
        out.flush();
      }
    }
  }
}
