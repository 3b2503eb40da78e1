package dev.extend.containerd;

import dev.extend.spi.JobRunner;
import dev.extend.spi.SandboxExit;
import dev.extend.spi.SandboxLimits;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Runs module builds as containerd tasks from the build root filesystem (the sandboxes' Node
 * plus npm and a shell), each as a uid of its own from the runtime's range (builds may run
 * concurrently, and install scripts are tenant-chosen code: one must not take the per-user
 * kernel limits of the others), with the sandbox hardening, and:
 *
 * <ul>
 *   <li>a network namespace of their own that holds only loopback: no address of the host, of
 *       its networks or beyond is reachable. The one way out is the job's service directory,
 *       bound read-only at {@code /extend/services}, where the host serves the job on Unix
 *       sockets (the module builder's registry proxy);
 *   <li>a work area at {@code /work}: a tmpfs with a size and inode cap that the host mounts
 *       over the job's work directory (see {@link JobWorkArea}), so install scripts cannot fill
 *       the host's disk.
 * </ul>
 *
 * <p>The job's collector runs after the task is deleted, when no process of the job is left.
 */
final class ContainerdJobRunner implements JobRunner {
  /** How often a running job's work area is looked at. */
  private static final long WATCH_NANOS = TimeUnit.MILLISECONDS.toNanos(200);

  private final ContainerdRuntime runtime;
  private final SandboxLimits limits;
  private final long workAreaMb;
  private final long workAreaInodes;

  ContainerdJobRunner(ContainerdRuntime runtime, SandboxLimits limits, long workAreaMb, long workAreaInodes) {
    this.runtime = runtime;
    this.limits = limits;
    this.workAreaMb = workAreaMb;
    this.workAreaInodes = workAreaInodes;
  }

  /** Jobs are containerd tasks with the sandboxes' hardening and a loopback-only network. */
  @Override
  public boolean isolating() {
    return true;
  }

  @Override
  public String workPath(Job job) {
    return OciSpecs.WORK;
  }

  /** The build tree carries the distribution at {@code /usr}: {@code /usr/bin/node}, {@code /usr/include/node}. */
  @Override
  public String runtimePath(Job job) {
    return "/usr";
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
    Path serviceDir = job.serviceDir() == null ? null : job.serviceDir().toAbsolutePath();
    String containerId = runtime.containerId("j." + job.id());
    Path rootfs = runtime.jobRootfs(job.runtimeDir());
    ContainerdTask task = runtime.newTask(containerId);
    Path jobDir = null;
    JobWorkArea area = null;
    try {
      if (serviceDir != null) {
        openServices(serviceDir, task.uid);
      }
      jobDir = Files.createDirectories(runtime.jobDir(containerId));
      area = JobWorkArea.mount(jobDir, workDir, workAreaMb, workAreaInodes, task.uid);
      writeInputs(workDir, job.inputs(), task.uid);
      return run(job, task, containerId, rootfs, workDir, serviceDir, area);
    } finally {
      if (area != null) {
        area.unmount();
      }
      if (jobDir != null) {
        RootfsAssembler.deleteTree(jobDir);
      }
      // Released by run() when it started (the uid is back already); otherwise never used.
      runtime.forget(task);
    }
  }

  private int run(Job job, ContainerdTask task, String containerId, Path rootfs, Path workDir, Path serviceDir,
      JobWorkArea area) throws IOException, InterruptedException, TimeoutException {
    OciSpecs.Input in = OciSpecs.job(task.identity(), rootfs, job.command(), job.env(), workDir, serviceDir, limits,
        runtime.cgroupsPath(containerId));
    try {
      task.start(in, runtime.labels("job", job.id()), job.output(), null);
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

  /**
   * The job's user may traverse the service directory and connect to its sockets (connecting
   * needs write permission on the socket file); it is bound read-only, so it can replace
   * nothing there. The job's own group and no access for others: other users of the host stay out.
   */
  private static void openServices(Path serviceDir, int gid) throws IOException {
    if (!Files.isDirectory(serviceDir, LinkOption.NOFOLLOW_LINKS)) {
      throw new IOException("the service directory of a job must be a directory: " + serviceDir);
    }
    Files.setAttribute(serviceDir, "unix:gid", gid, LinkOption.NOFOLLOW_LINKS);
    Files.setPosixFilePermissions(serviceDir, PosixFilePermissions.fromString("rwxr-x---"));
    try (DirectoryStream<Path> entries = Files.newDirectoryStream(serviceDir)) {
      for (Path p : entries) {
        if ((Integer) Files.getAttribute(p, "unix:mode", LinkOption.NOFOLLOW_LINKS) >> 12 == 014) {
          Files.setAttribute(p, "unix:gid", gid, LinkOption.NOFOLLOW_LINKS);
          Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rw-rw----"));
        }
      }
    }
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

  /** The job's inputs in its fresh work area, owned by the job's user. */
  private static void writeInputs(Path workDir, Map<String, byte[]> inputs, int uid) throws IOException {
    for (Map.Entry<String, byte[]> in : inputs.entrySet()) {
      Path file = workDir.resolve(in.getKey());
      for (Path dir = file.getParent(); !dir.equals(workDir); dir = dir.getParent()) {
        if (!Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)) {
          Files.createDirectories(dir);
        }
      }
      Files.write(file, in.getValue(), StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
      for (Path p = file; !p.equals(workDir); p = p.getParent()) {
        Files.setAttribute(p, "unix:uid", uid, LinkOption.NOFOLLOW_LINKS);
        Files.setAttribute(p, "unix:gid", uid, LinkOption.NOFOLLOW_LINKS);
      }
    }
  }
}
