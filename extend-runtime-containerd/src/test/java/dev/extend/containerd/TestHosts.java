package dev.extend.containerd;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

/**
 * Hosts of a test's own, each in a network namespace of its own joined to the host by a veth
 * pair: the host side gets {@code hostSide}, the namespace {@code address}, so traffic to them
 * never leaves the machine. Closing removes them (and ends what runs in them).
 */
final class TestHosts implements AutoCloseable {
  private final String tag = Integer.toString(ThreadLocalRandom.current().nextInt(36 * 36 * 36), 36);
  private final List<Host> hosts = new ArrayList<>();
  private final List<Process> processes = new ArrayList<>();

  /** One test host. */
  record Host(String netns, String veth, String address) {}

  /**
   * Adds a host.
   *
   * @param hostSide the host end's address with prefix, e.g. {@code 203.0.113.1/24}
   * @param address the test host's address, in the same prefix
   */
  Host add(String hostSide, String address) throws IOException {
    int n = hosts.size();
    String prefix = hostSide.substring(hostSide.indexOf('/'));
    Host h = new Host("xt-" + tag + "-" + n, "xt" + tag + "h" + n, address);
    hosts.add(h);
    String gateway = hostSide.substring(0, hostSide.indexOf('/'));
    SandboxNetwork.ip(null, "netns add " + h.netns(),
        "link add " + h.veth() + " type veth peer name eth0 netns " + h.netns(),
        "addr add " + hostSide + " dev " + h.veth(), "link set " + h.veth() + " up");
    SandboxNetwork.ip(h.netns(), "addr add " + address + prefix + " dev eth0", "link set eth0 up", "link set lo up",
        "route add default via " + gateway);
    return h;
  }

  /** Starts the test servers (HTTP 80, HTTPS 443, TCP 5432) in a host; returns once they listen. */
  void serve(Host h, Path key, Path cert, String name) throws IOException, InterruptedException {
    Path script = Path.of("src/test/resources/egress/test-server.js").toAbsolutePath();
    Process p = new ProcessBuilder("ip", "netns", "exec", h.netns(), "node", script.toString(), key.toString(),
        cert.toString(), name).redirectErrorStream(true).start();
    processes.add(p);
    BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
    String line = r.readLine();
    if (!"ready".equals(line)) {
      throw new IOException("test server in " + h.netns() + " did not start: " + line);
    }
  }

  /** Runs a command inside a host, returning its output (exit code checked). */
  String exec(Host h, String... cmd) throws IOException, InterruptedException {
    List<String> all = new ArrayList<>(List.of("ip", "netns", "exec", h.netns()));
    all.addAll(List.of(cmd));
    Process p = new ProcessBuilder(all).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    p.waitFor(30, TimeUnit.SECONDS);
    return out;
  }

  @Override
  public void close() {
    for (Process p : processes) {
      p.descendants().forEach(ProcessHandle::destroyForcibly);
      p.destroyForcibly();
    }
    List<String> cleanup = new ArrayList<>(List.of("-force"));
    for (Host h : hosts) {
      cleanup.add("link del " + h.veth());
      cleanup.add("netns del " + h.netns());
    }
    try {
      SandboxNetwork.ip(null, cleanup.toArray(String[]::new));
    } catch (IOException e) {
      // best effort
    }
  }
}
