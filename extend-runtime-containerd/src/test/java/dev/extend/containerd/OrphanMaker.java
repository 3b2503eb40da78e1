package dev.extend.containerd;

import dev.extend.spi.Sandbox;
import dev.extend.spi.SandboxLimits;
import dev.extend.spi.SandboxSpec;
import dev.extend.testing.TestAgent;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A JVM that starts sandboxes and then waits to be killed with SIGKILL, leaving them behind.
 * Arguments: socket, node id, data dir, work dir, number of sandboxes.
 */
public final class OrphanMaker {
  private OrphanMaker() {}

  /** Starts the sandboxes, prints one {@code SANDBOX <id> <socket>} line each, then {@code READY}. */
  public static void main(String[] args) throws Exception {
    ContainerdRuntime runtime = ContainerdRuntime.builder().egress(false).socket(Path.of(args[0])).namespace("extend-test")
        .nodeId(args[1]).dataDir(Path.of(args[2])).build();
    runtime.recover();
    Path work = Path.of(args[3]);
    Path agent = TestAgent.writeTestAgent(work.resolve("agent"));
    Path modules = Files.createDirectories(work.resolve("modules"));
    for (int i = 0; i < Integer.parseInt(args[4]); i++) {
      String id = "orphan-" + i;
      Path dir = work.resolve(id);
      Files.createDirectories(dir.resolve("code"));
      Files.createDirectories(dir.resolve("sock"));
      Sandbox s = runtime.start(new SandboxSpec(id, dir, agent, modules, new SandboxLimits(128, 500, 64, 8),
          line -> {}, dev.extend.testing.TestRuntimes.runtime(), dev.extend.testing.TestRuntimes.distribution()));
      System.out.println("SANDBOX " + s.id() + " " + s.spec().socket());
    }
    // A module build still running when the JVM dies, with its work area.
    Path jobWork = Files.createDirectories(work.resolve("job"));
    java.util.concurrent.CountDownLatch running = new java.util.concurrent.CountDownLatch(1);
    Thread t = new Thread(() -> {
      try {
        runtime.jobRunner().orElseThrow().run(new dev.extend.spi.JobRunner.Job("orphan-job",
            java.util.List.of("/usr/bin/node", "-e", "console.log('job running'); setInterval(() => {}, 1000)"),
            java.util.Map.of(), jobWork, java.time.Duration.ofMinutes(10), line -> {
              if (line.contains("job running")) {
                running.countDown();
              }
            }, dev.extend.testing.TestRuntimes.runtime(), dev.extend.testing.TestRuntimes.distribution()));
      } catch (Exception ignored) {
        // killed with the JVM
      }
    });
    t.setDaemon(true);
    t.start();
    // Its container and task exist once its process printed: only then is it a leftover to find.
    if (!running.await(60, java.util.concurrent.TimeUnit.SECONDS)) {
      throw new IllegalStateException("the orphan job did not start");
    }
    while (!JobWorkArea.isMounted(jobWork)) {
      Thread.sleep(10);
    }
    System.out.println("JOBWORK " + jobWork);
    System.out.println("READY");
    System.out.flush();
    Thread.sleep(Long.MAX_VALUE);
  }
}
