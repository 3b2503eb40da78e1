package dev.extend.bench;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

/**
 * The egress stage's test host: a network namespace of the bench's own joined to the host by a
 * veth pair (host side 203.0.113.1/24, the host 203.0.113.10), running a bare Node HTTP server,
 * so the bench's outbound requests never leave the machine. Also the measuring script, run the
 * same way inside a webhook and on the host.
 */
final class EgressStage implements AutoCloseable {
  static final String ADDRESS = "203.0.113.10";
  static final String ALLOW = "203.0.113.0/24";
  private final String netns = "xb-" + Integer.toString(ThreadLocalRandom.current().nextInt(46656), 36);
  private final String veth = netns.replace("-", "") + "h";
  private Process server;

  /**
   * {@code measure(n, concurrency, ms)}: n sequential keep-alive fetches (per-request times,
   * p50/p99), then {@code concurrency} loops for {@code ms} (requests per second).
   */
  static final String MEASURE = String.join("\n",
      "async function measure(n, conc, ms) {",
      "  const url = 'http://" + ADDRESS + "/';",
      "  const t = [];",
      "  for (let i = 0; i < n + 200; i++) {",
      "    const s = performance.now(); const r = await fetch(url); await r.text();",
      "    if (i >= 200) t.push(performance.now() - s);",
      "  }",
      "  t.sort((a, b) => a - b);",
      "  let count = 0; const end = Date.now() + ms;",
      "  await Promise.all(Array.from({ length: conc }, async () => {",
      "    while (Date.now() < end) { const r = await fetch(url); await r.text(); count++; }",
      "  }));",
      "  return { p50: t[Math.floor(t.length / 2)], p99: t[Math.floor(t.length * 0.99)], rps: count / (ms / 1000) };",
      "}");

  void start() throws IOException, InterruptedException {
    ip(null, "netns add " + netns, "link add " + veth + " type veth peer name eth0 netns " + netns,
        "addr add 203.0.113.1/24 dev " + veth, "link set " + veth + " up");
    ip(netns, "addr add " + ADDRESS + "/24 dev eth0", "link set eth0 up", "link set lo up",
        "route add default via 203.0.113.1");
    server = new ProcessBuilder("ip", "netns", "exec", netns, "node", "-e",
        "require('http').createServer((q, s) => s.end('ok')).listen(80, () => console.log('ready'))")
        .redirectErrorStream(true).start();
    String line = new BufferedReader(new InputStreamReader(server.getInputStream(), StandardCharsets.UTF_8)).readLine();
    if (!"ready".equals(line)) {
      throw new IOException("the egress test host did not start: " + line);
    }
  }

  /** Runs {@link #MEASURE} with the host's node; its JSON result. */
  String measureFromHost(Path node, int n, int conc, int ms) throws IOException, InterruptedException {
    Process p = new ProcessBuilder(node.toString(), "-e", MEASURE + "\nmeasure(" + n + "," + conc + "," + ms
        + ").then((r) => console.log(JSON.stringify(r)));").redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
    p.waitFor(120, TimeUnit.SECONDS);
    return out;
  }

  private static void ip(String ns, String... commands) throws IOException, InterruptedException {
    List<String> cmd = new ArrayList<>(List.of("ip"));
    if (ns != null) {
      cmd.addAll(List.of("-n", ns));
    }
    cmd.addAll(List.of("-force", "-b", "-"));
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    try (Writer w = new OutputStreamWriter(p.getOutputStream(), StandardCharsets.UTF_8)) {
      for (String c : commands) {
        w.write(c + "\n");
      }
    }
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (!p.waitFor(30, TimeUnit.SECONDS) || p.exitValue() != 0) {
      throw new IOException("ip failed: " + out);
    }
  }

  @Override
  public void close() {
    if (server != null) {
      server.descendants().forEach(ProcessHandle::destroyForcibly);
      server.destroyForcibly();
    }
    try {
      ip(null, "link del " + veth, "netns del " + netns);
    } catch (IOException | InterruptedException e) {
      // best effort
    }
  }
}
