package dev.extend.containerd;

import static org.assertj.core.api.Assertions.assertThat;

import dev.extend.containerd.internal.api.TasksApi;
import dev.extend.spi.Sandbox;
import dev.extend.spi.SandboxLimits;
import dev.extend.spi.SandboxSpec;
import dev.extend.testing.ContainerdFixture;
import dev.extend.testing.TestAgent;
import dev.extend.testing.UdsHttp;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Prints start, destroy and memory figures of containerd sandboxes running the platform's agent
 * (the test agent when core's is absent). A measurement, not an assertion on time: it only
 * checks that every sandbox answered.
 */
class SandboxFiguresContainerdTest {
  static final int SANDBOXES = 10;
  @TempDir Path tmp;

  @Test
  void printStartDestroyAndMemoryFigures() throws Exception {
    try (ContainerdFixture containerd = ContainerdFixture.start();
        ContainerdRuntime rt = ContainerdRuntime.builder().socket(containerd.socket()).namespace("extend-test")
            .nodeId("figures").dataDir(TestData.dataDir()).build()) {
      rt.recover();
      boolean real = TestAgent.realAgentAvailable();
      Path agent = real ? TestAgent.writeRealAgent(tmp.resolve("agent")) : TestAgent.writeTestAgent(tmp.resolve("agent"));
      Path modules = Files.createDirectories(tmp.resolve("modules"));
      List<Double> startMs = new ArrayList<>();
      List<Sandbox> sandboxes = new ArrayList<>();
      // One warm-up so page cache and the shim binary are hot, as on a running node.
      for (int i = 0; i <= SANDBOXES; i++) {
        String id = "fig-" + i;
        Path dir = tmp.resolve(id);
        Files.createDirectories(dir.resolve("code"));
        Files.createDirectories(dir.resolve("sock"));
        SandboxSpec spec = new SandboxSpec(id, dir, agent, modules, new SandboxLimits(256, 1000, 128, 16),
            new CopyOnWriteArrayList<String>()::add, dev.extend.testing.TestRuntimes.runtime(), dev.extend.testing.TestRuntimes.distribution());
        long t0 = System.nanoTime();
        Sandbox s = rt.start(spec);
        assertThat(UdsHttp.awaitOk(spec.socket(), "/_extend/health", Duration.ofSeconds(30))).isTrue();
        double ms = (System.nanoTime() - t0) / 1e6;
        if (i == 0) {
          s.destroy(Duration.ofSeconds(2));
          continue;
        }
        startMs.add(ms);
        sandboxes.add(s);
      }
      Thread.sleep(1000); // let the agents settle to idle
      List<Long> agentRss = new ArrayList<>();
      List<Long> shimRss = new ArrayList<>();
      List<Long> agentPss = new ArrayList<>();
      List<Long> shimPss = new ArrayList<>();
      List<Long> cgroupUsage = new ArrayList<>();
      for (Sandbox s : sandboxes) {
        String cid = rt.containerId(s.id());
        int pid = rt.client().tasks().get(TasksApi.GetRequest.newBuilder().setContainerId(cid).build())
            .getProcess().getPid();
        agentRss.add(rssKb(pid));
        shimRss.add(rssKb(parentPid(pid)));
        agentPss.add(pssKb(pid));
        shimPss.add(pssKb(parentPid(pid)));
        Path usage = Path.of("/sys/fs/cgroup/memory", rt.cgroupsPath(cid), "memory.usage_in_bytes");
        if (Files.exists(usage)) {
          cgroupUsage.add(Long.parseLong(Files.readString(usage).trim()) / 1024);
        }
      }
      List<Double> destroyMs = new ArrayList<>();
      for (Sandbox s : sandboxes) {
        long t0 = System.nanoTime();
        s.destroy(Duration.ofSeconds(2));
        destroyMs.add((System.nanoTime() - t0) / 1e6);
      }
      System.out.printf("%n%s agent, %d sandboxes, containerd %s%n", real ? "real" : "test", SANDBOXES,
          rt.client().version(Duration.ofSeconds(2)));
      System.out.printf("%-40s %10s %10s %10s%n", "figure", "p50", "min", "max");
      row("start: create -> socket answers (ms)", startMs);
      row("destroy: SIGTERM -> released (ms)", destroyMs);
      row("agent RSS (MiB)", kbToMib(agentRss));
      row("shim RSS (MiB)", kbToMib(shimRss));
      row("agent PSS (MiB, shared pages split)", kbToMib(agentPss));
      row("shim PSS (MiB, shared pages split)", kbToMib(shimPss));
      if (!cgroupUsage.isEmpty()) {
        row("cgroup memory usage (MiB)", kbToMib(cgroupUsage));
      }
    }
  }

  static List<Double> kbToMib(List<Long> kb) {
    List<Double> out = new ArrayList<>();
    kb.forEach(k -> out.add(k / 1024.0));
    return out;
  }

  static void row(String name, List<Double> values) {
    List<Double> sorted = new ArrayList<>(values);
    Collections.sort(sorted);
    System.out.printf("%-40s %10.1f %10.1f %10.1f%n", name, sorted.get(sorted.size() / 2), sorted.get(0),
        sorted.get(sorted.size() - 1));
  }

  static long rssKb(int pid) throws Exception {
    for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
      if (line.startsWith("VmRSS:")) {
        return Long.parseLong(line.replaceAll("[^0-9]", ""));
      }
    }
    return -1;
  }

  static long pssKb(int pid) throws Exception {
    Path rollup = Path.of("/proc/" + pid + "/smaps_rollup");
    if (!Files.exists(rollup)) {
      return -1;
    }
    for (String line : Files.readAllLines(rollup)) {
      if (line.startsWith("Pss:")) {
        return Long.parseLong(line.replaceAll("[^0-9]", ""));
      }
    }
    return -1;
  }

  static int parentPid(int pid) throws Exception {
    String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
    return Integer.parseInt(stat.substring(stat.lastIndexOf(')') + 2).split(" ")[1]);
  }
}
