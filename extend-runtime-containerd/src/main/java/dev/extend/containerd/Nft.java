package dev.extend.containerd;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * The host's nftables, through one long-lived {@code nft -i} process: each command line is one
 * kernel transaction (all of it applies or none), and a change costs a pipe round trip instead
 * of a process start.
 *
 * <p>Each line is followed by a sentinel, the addition of an element to a small set of the
 * table's whose echo says that everything before it was processed; what nft printed in between
 * is the line's output, and an {@code Error:} there fails the call. The process is restarted
 * when it dies. Thread-safe: lines are applied one at a time.
 */
final class Nft implements AutoCloseable {
  static final String BINARY = "nft";

  private final String table;
  private Process process;
  private Writer in;
  private BufferedReader out;
  private int seq;
  private boolean closed;

  /**
   * @param table the family and name of the table holding the {@code sync} set, e.g. {@code inet extend_x}
   */
  Nft(String table) {
    this.table = table;
  }

  /** Runs a script in a process of its own ({@code nft -f -}): for creating the table. */
  static void runScript(String script) throws IOException {
    HostCommand.run(List.of(BINARY, "-f", "-"), script);
  }

  /** Runs a command without a process of its own, for cleanup: failures are returned, not thrown. */
  static String tryRun(String... args) {
    List<String> cmd = new ArrayList<>();
    cmd.add(BINARY);
    cmd.addAll(List.of(args));
    try {
      HostCommand.run(cmd, null);
      return null;
    } catch (IOException e) {
      return e.getMessage();
    }
  }

  /**
   * Applies one line of commands ({@code ;}-separated) as one transaction.
   *
   * @return what nft printed for it (JSON lines: echoes of additions, listings)
   * @throws IOException when nft refused it (nothing of it applied) or its process failed
   */
  synchronized List<String> run(String line) throws IOException {
    if (line.indexOf('\n') >= 0 || line.indexOf('\r') >= 0) {
      throw new IllegalArgumentException("one line only");
    }
    if (closed) {
      throw new IOException("closed");
    }
    ensureProcess();
    int mark = seq = seq % 60_000 + 1;
    String sentinel = "add element " + table + " sync { " + mark + " }";
    try {
      in.write(line);
      in.write('\n');
      in.write(sentinel);
      in.write('\n');
      in.flush();
      List<String> output = new ArrayList<>();
      StringBuilder error = null;
      String needle = "\"name\": \"sync\"";
      String value = "\"val\": " + mark + ",";
      while (true) {
        String l = out.readLine();
        if (l == null) {
          stop();
          throw new IOException("nft ended" + (error == null ? "" : ": " + error));
        }
        if (l.startsWith("{") && l.contains(needle) && l.contains(value)) {
          break;
        }
        if (l.startsWith("Error:")) {
          if (error != null) {
            // the sentinel itself failed: the table is gone
            stop();
            throw new IOException(error + "; " + l);
          }
          error = new StringBuilder(l);
        } else if (error != null) {
          if (error.length() < 2000) {
            error.append(" | ").append(l.strip());
          }
        } else {
          output.add(l);
        }
      }
      if (error != null) {
        throw new IOException(error.toString());
      }
      return output;
    } catch (IOException e) {
      if (process != null && !process.isAlive()) {
        stop();
      }
      throw e;
    }
  }

  private void ensureProcess() throws IOException {
    if (process != null && process.isAlive()) {
      return;
    }
    stop();
    process = new ProcessBuilder(BINARY, "-e", "-j", "-i").redirectErrorStream(true).start();
    in = new OutputStreamWriter(process.getOutputStream(), StandardCharsets.UTF_8);
    out = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
  }

  private void stop() {
    if (process != null) {
      process.destroyForcibly();
      process = null;
      in = null;
      out = null;
    }
  }

  @Override
  public synchronized void close() {
    closed = true;
    stop();
  }
}
