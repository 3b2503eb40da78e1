package dev.extend.containerd;

import static org.assertj.core.api.Assertions.assertThat;

import dev.extend.spi.Sandbox;
import dev.extend.spi.SandboxLimits;
import dev.extend.spi.SandboxSpec;
import dev.extend.testing.ContainerdFixture;
import dev.extend.testing.TestAgent;
import dev.extend.testing.UdsHttp;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Leftovers after a JVM crash, a containerd restart under running sandboxes, live limit
 * updates — against a real private containerd.
 */
class RecoveryContainerdTest {
  static ContainerdFixture containerd;
  @TempDir Path tmp;

  @BeforeAll
  static void start() throws Exception {
    containerd = ContainerdFixture.start();
  }

  @AfterAll
  static void stop() throws Exception {
    if (containerd != null) {
      containerd.close();
    }
  }

  ContainerdRuntime runtime(String nodeId) throws Exception {
    return ContainerdRuntime.builder().socket(containerd.socket()).namespace("extend-test").nodeId(nodeId)
        .dataDir(TestData.dataDir()).build();
  }

  static List<String> containersOf(String nodeId) {
    return TestData.containersOf(containerd.socket(), nodeId);
  }

  @Test
  void recoverRemovesWhatAKilledJvmLeftBehind() throws Exception {
    // A node of its own each run: runc keeps a killed run's state under fixed ids otherwise.
    String node = "crashy" + Long.toHexString(System.nanoTime() & 0xffff);
    String java = ProcessHandle.current().info().command().orElse("java");
    Process child = new ProcessBuilder(java, "-cp", System.getProperty("java.class.path"),
        OrphanMaker.class.getName(), containerd.socket().toString(), node, TestData.dataDir().toString(),
        tmp.toString(), "2")
        .redirectErrorStream(true).start();
    List<Path> sockets = new ArrayList<>();
    List<Path> jobWork = new ArrayList<>();
    try (BufferedReader out = new BufferedReader(new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8))) {
      String line;
      List<String> said = new ArrayList<>();
      while ((line = out.readLine()) != null && !line.equals("READY")) {
        said.add(line);
        if (line.startsWith("SANDBOX ")) {
          sockets.add(Path.of(line.split(" ")[2]));
        }
        if (line.startsWith("JOBWORK ")) {
          jobWork.add(Path.of(line.substring("JOBWORK ".length())));
        }
      }
      assertThat(sockets).as("what the orphan maker said: %s", said).hasSize(2);
      for (Path s : sockets) {
        assertThat(UdsHttp.awaitOk(s, "/_extend/health", Duration.ofSeconds(30))).isTrue();
      }
      child.destroyForcibly(); // SIGKILL: no close(), no shutdown hooks
      child.waitFor(10, TimeUnit.SECONDS);
    }
    // The sandboxes outlive the JVM (their shims are separate processes).
    assertThat(containersOf(node)).hasSize(3);
    assertThat(jobWork).hasSize(1);
    assertThat(JobWorkArea.isMounted(jobWork.get(0))).as("the job's work area outlives the JVM").isTrue();
    assertThat(UdsHttp.get(sockets.get(0), "/_extend/health").status()).isEqualTo(200);
    Path taskDirs = TestData.dataDir().resolve("containerd/tasks").toAbsolutePath();
    java.util.function.Predicate<String> outputMountOfNode =
        l -> l.contains(" - tmpfs " + HostMounts.OUTPUT_SOURCE + " ") && l.contains(" " + taskDirs + "/" + node + ".");
    assertThat(Files.readAllLines(Path.of("/proc/self/mountinfo"))).as("the tasks' output tmpfs outlive the JVM")
        .filteredOn(outputMountOfNode).hasSize(3);

    try (ContainerdRuntime next = runtime(node)) {
      next.recover();
      assertThat(containersOf(node)).isEmpty();
      for (Path s : sockets) {
        assertThat(UdsHttp.awaitOk(s, "/_extend/health", Duration.ofMillis(100))).isFalse();
      }
      assertThat(JobWorkArea.isMounted(jobWork.get(0))).as("the job's work area is unmounted").isFalse();
      List<String> mounts = Files.readAllLines(Path.of("/proc/self/mountinfo"));
      for (Path s : sockets) {
        assertThat(mounts).as("socket tmpfs of %s unmounted", s).noneMatch(l -> l.contains(" " + s.getParent() + " "));
      }
      assertThat(mounts).as("output tmpfs of the crashed run unmounted").noneMatch(outputMountOfNode);
      try (var dirs = Files.list(TestData.dataDir().resolve("containerd/tasks"))) {
        assertThat(dirs.map(p -> p.getFileName().toString())).noneMatch(n -> n.startsWith(node + "."));
      }
    }
  }

  @Test
  void recoverLeavesOtherNodesAlone() throws Exception {
    try (ContainerdRuntime a = runtime("node-a"); ContainerdRuntime b = runtime("node-b")) {
      a.recover();
      Sandbox s = a.start(spec("keep-me"));
      b.recover();
      assertThat(containersOf("node-a")).hasSize(1);
      assertThat(UdsHttp.awaitOk(s.spec().socket(), "/_extend/health", Duration.ofSeconds(30))).isTrue();
    }
    assertThat(containersOf("node-a")).isEmpty();
  }

  @Test
  void sandboxesSurviveAContainerdRestartAndExitsAreStillSeen() throws Exception {
    org.junit.jupiter.api.Assumptions.assumeTrue(containerd.privateDaemon(), "needs a private daemon");
    try (ContainerdRuntime rt = runtime("restarts")) {
      rt.recover();
      Sandbox s = rt.start(spec("survivor"));
      assertThat(UdsHttp.awaitOk(s.spec().socket(), "/_extend/health", Duration.ofSeconds(30))).isTrue();
      containerd.restart();
      assertThat(UdsHttp.get(s.spec().socket(), "/_extend/health").status()).isEqualTo(200);
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
      while (rt.problem() != null && System.nanoTime() < deadline) {
        Thread.sleep(100);
      }
      assertThat(rt.problem()).isNull();
      UdsHttp.get(s.spec().socket(), "/_test/exit?code=7");
      assertThat(s.exit().get(30, TimeUnit.SECONDS).status()).isEqualTo(7);
      // New sandboxes start after the restart too.
      Sandbox t = rt.start(spec("after-restart"));
      assertThat(UdsHttp.awaitOk(t.spec().socket(), "/_extend/health", Duration.ofSeconds(30))).isTrue();
    }
  }

  @Test
  void problemNamesAnUnreachableDaemon() throws Exception {
    try (ContainerdRuntime rt = ContainerdRuntime.builder().socket(tmp.resolve("nothing.sock")).nodeId("x")
        .dataDir(TestData.dataDir()).build()) {
      assertThat(rt.problem()).contains("nothing.sock");
    }
  }

  @Test
  void updateLimitsRewritesTheCgroup() throws Exception {
    try (ContainerdRuntime rt = runtime("limits")) {
      rt.recover();
      Sandbox s = rt.start(spec("grow"));
      assertThat(UdsHttp.awaitOk(s.spec().socket(), "/_extend/health", Duration.ofSeconds(30))).isTrue();
      Path cg = Path.of("/sys/fs/cgroup/memory", rt.cgroupsPath(rt.containerId("grow")));
      org.junit.jupiter.api.Assumptions.assumeTrue(Files.isDirectory(cg), "cgroup v1 memory controller");
      assertThat(Files.readString(cg.resolve("memory.limit_in_bytes")).trim()).isEqualTo(String.valueOf(128L << 20));
      s.updateLimits(new SandboxLimits(512, 1000, 128, 8));
      assertThat(Files.readString(cg.resolve("memory.limit_in_bytes")).trim()).isEqualTo(String.valueOf(512L << 20));
      Path pids = Path.of("/sys/fs/cgroup/pids", rt.cgroupsPath(rt.containerId("grow")), "pids.max");
      assertThat(Files.readString(pids).trim()).isEqualTo("128");
    }
  }

  SandboxSpec spec(String id) throws Exception {
    Path dir = tmp.resolve(id);
    Files.createDirectories(dir.resolve("code"));
    Files.createDirectories(dir.resolve("sock"));
    Path agent = TestAgent.writeTestAgent(tmp.resolve("agent"));
    Path modules = Files.createDirectories(tmp.resolve("modules"));
    return new SandboxSpec(id, dir, agent, modules, new SandboxLimits(128, 500, 64, 8), new CopyOnWriteArrayList<String>()::add, dev.extend.testing.TestRuntimes.runtime(), dev.extend.testing.TestRuntimes.distribution());
  }
}
