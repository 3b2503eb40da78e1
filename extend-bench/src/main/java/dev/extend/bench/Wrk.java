package dev.extend.bench;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Runs {@code wrk} (when installed) against a TCP URL, as a cross-check of the bench's own client. */
final class Wrk {
  static final Path BINARY = Path.of("/usr/bin/wrk");
  private static final Pattern RPS = Pattern.compile("Requests/sec:\\s+([0-9.]+)");
  private static final Pattern PCT = Pattern.compile("^\\s+(50|99)(?:\\.000)?%\\s+([0-9.]+)(us|ms|s)\\s*$", Pattern.MULTILINE);
  private static final Pattern ERRORS = Pattern.compile("Non-2xx or 3xx responses: (\\d+)");

  /** wrk's figures: requests per second and latency percentiles in milliseconds. */
  record Result(double rps, double p50Ms, double p99Ms, long non2xx, String version) {}

  private Wrk() {}

  static boolean available() {
    return Files.isExecutable(BINARY);
  }

  static String version() {
    try {
      Process p = new ProcessBuilder(BINARY.toString(), "-v").redirectErrorStream(true).start();
      String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      p.waitFor(5, TimeUnit.SECONDS);
      String first = out.lines().findFirst().orElse("wrk");
      return first.replaceAll("\\s+Copyright.*", "").strip();
    } catch (IOException e) {
      return "wrk";
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return "wrk";
    }
  }

  static Result run(String url, int connections, Duration duration) throws IOException, InterruptedException {
    long seconds = Math.max(1, Math.round(duration.toMillis() / 1000.0));
    List<String> cmd = new ArrayList<>(List.of(BINARY.toString(), "-t1", "-c" + connections, "-d" + seconds + "s",
        "--latency", url));
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (!p.waitFor(seconds + 30, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      throw new IOException("wrk did not finish");
    }
    Matcher m = RPS.matcher(out);
    if (!m.find()) {
      throw new IOException("cannot read wrk's output:\n" + out);
    }
    double rps = Double.parseDouble(m.group(1));
    double p50 = Double.NaN;
    double p99 = Double.NaN;
    Matcher pm = PCT.matcher(out);
    while (pm.find()) {
      double v = Double.parseDouble(pm.group(2));
      double ms = switch (pm.group(3)) {
        case "us" -> v / 1000;
        case "s" -> v * 1000;
        default -> v;
      };
      if (pm.group(1).equals("50")) {
        p50 = ms;
      } else {
        p99 = ms;
      }
    }
    Matcher em = ERRORS.matcher(out);
    long errors = em.find() ? Long.parseLong(em.group(1)) : 0;
    return new Result(rps, p50, p99, errors, null);
  }
}
