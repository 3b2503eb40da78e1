package dev.extend.bench;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;

/** Resident memory of sandbox processes, read from {@code /proc/<pid>/status} (VmRSS). */
final class Memory {
  private Memory() {}

  /** What was counted: sandboxes, their processes' RSS total, and the part held by shims. */
  record Usage(int sandboxes, int processes, long totalKb, long shimKb) {
    double perSandboxMib() {
      return sandboxes == 0 ? Double.NaN : totalKb / 1024.0 / sandboxes;
    }

    double shimPerSandboxMib() {
      return sandboxes == 0 ? Double.NaN : shimKb / 1024.0 / sandboxes;
    }
  }

  static long rssKb(long pid) {
    try {
      for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
        if (line.startsWith("VmRSS:")) {
          return Long.parseLong(line.replaceAll("[^0-9]", ""));
        }
      }
    } catch (IOException | RuntimeException e) {
      // the process ended while it was read
    }
    return 0;
  }

  static String cmdline(long pid) {
    try {
      byte[] b = Files.readAllBytes(Path.of("/proc/" + pid + "/cmdline"));
      return new String(b, StandardCharsets.UTF_8).replace('\0', ' ').strip();
    } catch (IOException e) {
      return "";
    }
  }

  /**
   * Local runtime: the sandbox agents are {@code node .../agent.js} children of this JVM
   * ({@code exclude} names other node children, e.g. the bare baseline).
   */
  static Usage localSandboxes(Set<Long> exclude) {
    long total = 0;
    int n = 0;
    List<ProcessHandle> all = ProcessHandle.current().descendants().toList();
    for (ProcessHandle p : all) {
      if (exclude.contains(p.pid())) {
        continue;
      }
      String cmd = cmdline(p.pid());
      if (cmd.contains("agent.js") && cmd.contains("--socket")) {
        total += rssKb(p.pid());
        n++;
      }
    }
    return new Usage(n, n, total, 0);
  }

  /**
   * containerd runtime: each sandbox is one {@code containerd-shim-runc-v2} whose command line
   * names the namespace, plus the processes below it (the agent inside the sandbox).
   */
  static Usage containerdSandboxes(String namespace) throws IOException {
    long total = 0;
    long shims = 0;
    int sandboxes = 0;
    int processes = 0;
    List<Long> shimPids = new ArrayList<>();
    try (Stream<Path> procs = Files.list(Path.of("/proc"))) {
      procs.map(p -> p.getFileName().toString()).filter(s -> s.chars().allMatch(Character::isDigit))
          .map(Long::parseLong).forEach(pid -> {
            String cmd = cmdline(pid);
            if (cmd.contains("containerd-shim-runc-v2") && mentionsNamespace(cmd, namespace)) {
              shimPids.add(pid);
            }
          });
    }
    for (long shim : shimPids) {
      long kb = rssKb(shim);
      shims += kb;
      total += kb;
      sandboxes++;
      processes++;
      for (ProcessHandle d : ProcessHandle.of(shim).map(h -> h.descendants().toList()).orElse(List.of())) {
        total += rssKb(d.pid());
        processes++;
      }
    }
    return new Usage(sandboxes, processes, total, shims);
  }

  private static boolean mentionsNamespace(String cmd, String namespace) {
    String[] parts = cmd.split(" ");
    for (int i = 0; i + 1 < parts.length; i++) {
      if ((parts[i].equals("-namespace") || parts[i].equals("--namespace")) && parts[i + 1].equals(namespace)) {
        return true;
      }
    }
    return false;
  }
}
