package dev.extend.containerd;

import java.io.IOException;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** One run of a host tool ({@code ip}, {@code nft}): its input written, its output read (capped), its exit checked. */
final class HostCommand {
  private HostCommand() {}

  /**
   * Runs {@code command} with {@code input} on its stdin (null: none) and returns what it printed
   * (stdout and stderr, at most 1 MiB).
   *
   * @throws IOException when it cannot start, exits non-zero (the message holds its output) or
   *     runs longer than 30 s
   */
  static String run(List<String> command, String input) throws IOException {
    Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
    try (Writer w = new OutputStreamWriter(p.getOutputStream(), StandardCharsets.UTF_8)) {
      if (input != null) {
        w.write(input);
      }
    }
    String output = new String(p.getInputStream().readNBytes(1 << 20), StandardCharsets.UTF_8);
    try {
      if (!p.waitFor(30, TimeUnit.SECONDS)) {
        p.destroyForcibly();
        throw new IOException(command.get(0) + " did not finish within 30 s");
      }
    } catch (InterruptedException e) {
      p.destroyForcibly();
      Thread.currentThread().interrupt();
      throw new IOException("interrupted", e);
    }
    if (p.exitValue() != 0) {
      throw new IOException(command.get(0) + " failed (exit " + p.exitValue() + "): " + output.strip());
    }
    return output;
  }
}
