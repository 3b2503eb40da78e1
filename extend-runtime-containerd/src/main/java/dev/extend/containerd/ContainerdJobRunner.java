package dev.extend.containerd;

import dev.extend.spi.JobRunner;
import dev.extend.spi.SandboxExit;
import dev.extend.spi.SandboxLimits;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.stream.Stream;

/**
 * Runs module builds as containerd tasks from the sandboxes' root filesystem, as uid 65534,
 * with the sandbox hardening except the network namespace: jobs share the host's network so
 * npm reaches its registry, and see the host's {@code /etc/resolv.conf} read-only.
 */
final class ContainerdJobRunner implements JobRunner {
  private final ContainerdRuntime runtime;
  private final SandboxLimits limits;

  ContainerdJobRunner(ContainerdRuntime runtime, SandboxLimits limits) {
    this.runtime = runtime;
    this.limits = limits;
  }

  @Override
  public String workPath(Job job) {
    return OciSpecs.WORK;
  }

  @Override
  public int run(Job job) throws IOException, InterruptedException, TimeoutException {
    if (!job.id().matches("[A-Za-z0-9][A-Za-z0-9._-]*")) {
      throw new IllegalArgumentException("invalid job id: " + job.id());
    }
    runtime.ensureReady();
    Path workDir = job.workDir().toAbsolutePath();
    handOver(workDir);
    String containerId = runtime.containerId("j." + job.id());
    Path rootfs = runtime.rootfs();
    OciSpecs.Input in = OciSpecs.job(rootfs, job.command(), job.env(), workDir,
        hostFile(rootfs, "/etc/resolv.conf"), hostFile(rootfs, OciSpecs.CA_BUNDLE), limits,
        runtime.cgroupsPath(containerId));
    ContainerdTask task = runtime.newTask(containerId);
    task.start(OciSpecs.toJson(in), runtime.labels("job", job.id()), job.output(), null);
    try {
      SandboxExit exit = task.exit().get(job.timeout().toMillis(), TimeUnit.MILLISECONDS);
      return exit.status();
    } catch (TimeoutException e) {
      task.release(Duration.ZERO);
      throw new TimeoutException("job " + job.id() + " ran longer than " + job.timeout() + " and was killed");
    } catch (ExecutionException e) {
      throw new IOException("job " + job.id() + " failed", e.getCause());
    } finally {
      task.release(Duration.ZERO);
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

  /** The job runs as uid 65534: give it the work directory and what is already in it. */
  private static void handOver(Path workDir) throws IOException {
    try (Stream<Path> all = Files.walk(workDir)) {
      for (Path p : (Iterable<Path>) all::iterator) {
        Files.setAttribute(p, "unix:uid", OciSpecs.SANDBOX_UID, LinkOption.NOFOLLOW_LINKS);
        Files.setAttribute(p, "unix:gid", OciSpecs.SANDBOX_UID, LinkOption.NOFOLLOW_LINKS);
      }
    }
  }
}
