package dev.extend.containerd;

import dev.extend.spi.JobRunner;
import dev.extend.spi.SandboxExit;
import dev.extend.spi.SandboxLimits;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Runs module builds as containerd tasks from the sandboxes' root filesystem, as uid 65534,
 * with the sandbox hardening. npm must reach its registry, so jobs get network access:
 *
 * <ul>
 *   <li>with slirp4netns (preferred): their own network namespace whose only way out is a
 *       user-mode NAT on the host that refuses connections to the host's loopback, so services
 *       bound to 127.0.0.1 (databases, the platform's own ports) stay out of reach; DNS via
 *       slirp's forwarder;
 *   <li>without it: the host's network namespace, with the host's {@code /etc/resolv.conf}.
 * </ul>
 *
 * <p>Either way the host's CA bundle is bound read-only (a site may add its own CA).
 */
final class ContainerdJobRunner implements JobRunner {
  /** slirp4netns's built-in DNS forwarder inside the namespace. */
  private static final String SLIRP_DNS = "10.0.2.3";
  /** Where a job's task directory records the pid of its slirp4netns. */
  static final String PID_FILE = "slirp4netns.pid";

  /** How often a running job's work area is looked at. */
  private static final long WATCH_NANOS = TimeUnit.MILLISECONDS.toNanos(200);

  private final ContainerdRuntime runtime;
  private final SandboxLimits limits;
  private final long workAreaMb;
  private final long workAreaInodes;
  private final Path slirp4netns;

  ContainerdJobRunner(ContainerdRuntime runtime, SandboxLimits limits, long workAreaMb, long workAreaInodes,
      Path slirp4netns) {
    this.runtime = runtime;
    this.limits = limits;
    this.workAreaMb = workAreaMb;
    this.workAreaInodes = workAreaInodes;
    this.slirp4netns = slirp4netns;
  }

  @Override
  public String workPath(Job job) {
    return OciSpecs.WORK;
  }

  @Override
  public String servicePath(Job job) {
    return OciSpecs.SERVICES;
  }

  @Override
  public int run(Job job) throws IOException, InterruptedException, TimeoutException {
    if (!job.id().matches("[A-Za-z0-9][A-Za-z0-9._-]*")) {
      throw new IllegalArgumentException("invalid job id: " + job.id());
    }
    runtime.ensureReady();
    Path workDir = job.workDir().toAbsolutePath();
    String containerId = runtime.containerId("j." + job.id());
    Path rootfs = runtime.jobRootfs();
    Path jobDir = Files.createDirectories(runtime.jobDir(containerId));
    JobWorkArea area = null;
    try {
      area = JobWorkArea.mount(jobDir, workDir, workAreaMb, workAreaInodes);
      writeInputs(workDir, job.inputs());
      return run(job, containerId, rootfs, workDir, area);
    } finally {
      if (area != null) {
        area.unmount();
      }
      RootfsAssembler.deleteTree(jobDir);
    }
  }

  private int run(Job job, String containerId, Path rootfs, Path workDir, JobWorkArea area)
      throws IOException, InterruptedException, TimeoutException {
    ContainerdTask task = runtime.newTask(containerId);
    boolean isolated = slirp4netns != null;
    Path resolv;
    if (isolated) {
      resolv = Files.createDirectories(task.stateDir).resolve("resolv.conf");
      Files.writeString(resolv, "nameserver " + SLIRP_DNS + "\n");
    } else {
      resolv = hostFile(rootfs, "/etc/resolv.conf");
    }
    OciSpecs.Input in = OciSpecs.job(rootfs, job.command(), job.env(), workDir, resolv,
        hostFile(rootfs, OciSpecs.CA_BUNDLE), limits, runtime.cgroupsPath(containerId), isolated);
    AtomicReference<Process> nat = new AtomicReference<>();
    try {
      task.start(OciSpecs.toJson(in), runtime.labels("job", job.id()), job.output(), null,
          pid -> {
            if (isolated) {
              nat.set(startSlirp(pid, task.stateDir.resolve("slirp4netns.log")));
            }
          });
      SandboxExit exit = awaitExit(task, job, area);
      // Every process of the job ends with the task: nothing is left to race what is read next.
      task.release(Duration.ZERO);
      if (exit.status() != 0 && area.checkFull()) {
        throw new WorkAreaFullException(area.megabytes(), area.inodes());
      }
      job.collector().collect(exit.status(), workDir);
      return exit.status();
    } finally {
      task.release(Duration.ZERO);
      Process p = nat.get();
      if (p != null) {
        p.destroy();
        if (!p.waitFor(5, TimeUnit.SECONDS)) {
          p.destroyForcibly();
        }
      }
    }
  }

  /** Waits for the task's exit within the job's timeout, watching the work area meanwhile. */
  private static SandboxExit awaitExit(ContainerdTask task, Job job, JobWorkArea area)
      throws IOException, InterruptedException, TimeoutException {
    long deadline = System.nanoTime() + job.timeout().toNanos();
    while (true) {
      long left = deadline - System.nanoTime();
      if (left <= 0) {
        task.release(Duration.ZERO);
        throw new TimeoutException("job " + job.id() + " ran longer than " + job.timeout() + " and was killed");
      }
      try {
        return task.exit().get(Math.min(left, WATCH_NANOS), TimeUnit.NANOSECONDS);
      } catch (TimeoutException e) {
        area.checkFull();
      } catch (ExecutionException e) {
        throw new IOException("job " + job.id() + " failed", e.getCause());
      }
    }
  }

  /** Attaches a user-mode NAT to the network namespace of {@code pid} and waits until it is configured. */
  private Process startSlirp(int pid, Path log) throws IOException {
    Process p = new ProcessBuilder(List.of(slirp4netns.toString(), "--configure", "--mtu=65520",
        "--disable-host-loopback", String.valueOf(pid), "tap0"))
        .redirectErrorStream(true)
        .redirectOutput(log.toFile())
        .start();
    // slirp4netns outlives the namespace's processes: recover() ends it after a crash of the JVM.
    Files.writeString(log.resolveSibling(PID_FILE), String.valueOf(p.pid()));
    Path routes = Path.of("/proc", String.valueOf(pid), "net", "route");
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    try {
      while (System.nanoTime() < deadline) {
        if (Files.readAllLines(routes).stream().anyMatch(l -> l.startsWith("tap0"))) {
          return p;
        }
        if (!p.isAlive()) {
          break;
        }
        Thread.sleep(5);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    p.destroyForcibly();
    String out = Files.exists(log) ? Files.readString(log, StandardCharsets.UTF_8).trim() : "";
    throw new IOException("slirp4netns did not configure the job's network: " + out);
  }

  /** Unmounts the work areas of jobs a crashed run of this node left, and removes their host directories. */
  static void recoverLeftovers(Path jobDirs, String idPrefix) throws IOException {
    if (!Files.isDirectory(jobDirs)) {
      return;
    }
    try (var dirs = Files.list(jobDirs)) {
      for (Path d : (Iterable<Path>) dirs::iterator) {
        if (d.getFileName().toString().startsWith(idPrefix + ".")) {
          JobWorkArea.unmountRecorded(d);
          RootfsAssembler.deleteTree(d);
        }
      }
    }
  }

  /** Ends the slirp4netns a crashed run left for a job, if it still runs. */
  static void endLeftover(Path taskDir) {
    try {
      Path pidFile = taskDir.resolve(PID_FILE);
      if (Files.exists(pidFile)) {
        long pid = Long.parseLong(Files.readString(pidFile).trim());
        ProcessHandle.of(pid)
            .filter(h -> h.info().command().map(c -> c.endsWith("/slirp4netns")).orElse(false))
            .ifPresent(ProcessHandle::destroyForcibly);
      }
    } catch (IOException | NumberFormatException e) {
      // nothing to end
    }
  }

  /** A host file to bind into jobs at the same path, resolved (a bind of a symlink would follow it anyway), or null. */
  private static Path hostFile(Path rootfs, String path) {
    try {
      Path p = Path.of(path);
      // The read-only root must already hold the mount point.
      return Files.isRegularFile(p) && Files.isRegularFile(rootfs.resolve(path.substring(1))) ? p.toRealPath() : null;
    } catch (IOException e) {
      return null;
    }
  }

  /** The job's inputs, owned by the job's user (uid 65534), who also gets the work directory. */
  private static void writeInputs(Path workDir, Map<String, byte[]> inputs) throws IOException {
    giveToJob(workDir);
    for (Map.Entry<String, byte[]> in : inputs.entrySet()) {
      Path file = workDir.resolve(in.getKey());
      for (Path dir = file.getParent(); !dir.equals(workDir); dir = dir.getParent()) {
        if (!Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)) {
          Files.createDirectories(dir);
        }
      }
      Files.write(file, in.getValue(), StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
      for (Path p = file; !p.equals(workDir); p = p.getParent()) {
        giveToJob(p);
      }
    }
  }

  private static void giveToJob(Path p) throws IOException {
    Files.setAttribute(p, "unix:uid", OciSpecs.SANDBOX_UID, LinkOption.NOFOLLOW_LINKS);
    Files.setAttribute(p, "unix:gid", OciSpecs.SANDBOX_UID, LinkOption.NOFOLLOW_LINKS);
  }
}
