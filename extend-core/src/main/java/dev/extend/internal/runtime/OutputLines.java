package dev.extend.internal.runtime;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.function.Consumer;

/**
 * Forwards a child process's output line by line. A line is never held beyond
 * {@link #MAX_LINE_CHARS}: the rest of a longer one (a minified blob, or output that never
 * ends its line) is dropped and the line marked, so no process can make the JVM buffer
 * without bound.
 */
final class OutputLines {
  static final int MAX_LINE_CHARS = 16 * 1024;

  private OutputLines() {}

  /** Starts a daemon thread forwarding {@code in} to {@code out} until the stream ends. */
  static Thread start(InputStream in, Consumer<String> out, String threadName) {
    Thread t = new Thread(() -> forward(in, out), threadName);
    t.setDaemon(true);
    t.start();
    return t;
  }

  static void forward(InputStream in, Consumer<String> out) {
    StringBuilder line = new StringBuilder(256);
    boolean truncated = false;
    try (BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
      for (int c; (c = r.read()) >= 0; ) {
        if (c == '\n') {
          emit(out, line, truncated);
          truncated = false;
        } else if (line.length() < MAX_LINE_CHARS) {
          line.append((char) c);
        } else {
          truncated = true;
        }
      }
      if (line.length() > 0) {
        emit(out, line, truncated);
      }
    } catch (IOException e) {
      // the stream closes when the process ends or is killed: nothing more to read
    }
  }

  private static void emit(Consumer<String> out, StringBuilder line, boolean truncated) {
    int n = line.length();
    if (n > 0 && line.charAt(n - 1) == '\r') {
      line.setLength(n - 1);
    }
    String text = truncated ? line + "... (line truncated)" : line.toString();
    line.setLength(0);
    try {
      out.accept(text);
    } catch (RuntimeException e) {
      // a failing consumer must not stop the pump (the pipe would fill and block the process)
    }
  }
}
