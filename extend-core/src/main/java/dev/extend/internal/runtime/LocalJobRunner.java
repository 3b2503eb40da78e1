package dev.extend.internal.runtime;

import dev.extend.spi.JobRunner;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Runs build jobs as plain child processes of this JVM, for development and for the local
 * sandbox runtime. It does <b>not</b> isolate: install scripts of the packages being built run
 * with this JVM's user and see the host. Use the containerd runtime's job runner wherever
 * packages are not trusted.
 *
 * <p>The child's environment is the job's environment only, plus {@code PATH} from this JVM
 * when the job sets none, after the runtime distribution's {@code bin}; its working directory is the job's work directory, which it sees
 * under its host path, as is its service directory. On timeout the process and all its
 * descendants are killed. The work area is the work directory itself, uncapped; the collector
 * runs once the process has ended (descendants it left behind are not waited for).
 */
public final class LocalJobRunner implements JobRunner {
  /** Creates a runner; use {@link JobRunner#localProcesses()}. */
  public LocalJobRunner() {}

  @Override
  public String workPath(Job job) {
    return job.workDir().toAbsolutePath().toString();
  }

  @Override
  public String servicePath(Job job) {
    return job.serviceDir() == null ? "" : job.serviceDir().toAbsolutePath().toString();
  }

  @Override
  public String runtimePath(Job job) {
    return job.runtimeDir().toAbsolutePath().toString();
  }

  @Override
  public int run(Job job) throws IOException, InterruptedException, TimeoutException {
    Path work = job.workDir().toAbsolutePath();
    for (Map.Entry<String, byte[]> in : job.inputs().entrySet()) {
      Path file = work.resolve(in.getKey());
      Files.createDirectories(file.getParent());
      Files.write(file, in.getValue());
    }
    ProcessBuilder pb = new ProcessBuilder(job.command())
        .directory(job.workDir().toFile())
        .redirectErrorStream(true)
        .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
    Map<String, String> env = pb.environment();
    env.clear();
    env.putAll(job.env());
    if (!env.containsKey("PATH")) {
      String path = System.getenv("PATH");
      env.put("PATH", path != null ? path : "/usr/local/bin:/usr/bin:/bin");
    }
    // The runtime's node comes first: install scripts that run `node` get it, not the host's.
    env.put("PATH", job.runtimeDir().toAbsolutePath().resolve("bin") + java.io.File.pathSeparator + env.get("PATH"));
    Process process = pb.start();
    Thread reader = OutputLines.start(process.getInputStream(), job.output(), "job-output-" + job.id());
    try {
      if (!process.waitFor(job.timeout().toMillis(), TimeUnit.MILLISECONDS)) {
        kill(process);
        reader.join(2000);
        throw new TimeoutException("job " + job.id() + " did not finish within " + job.timeout());
      }
      // A daemonized descendant may keep the pipe open; don't wait for it forever.
      reader.join(5000);
      int status = process.exitValue();
      job.collector().collect(status, work);
      return status;
    } catch (InterruptedException e) {
      kill(process);
      throw e;
    }
  }

  private static void kill(Process process) {
    process.descendants().forEach(ProcessHandle::destroyForcibly);
    process.destroyForcibly();
    try {
      process.waitFor(5, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

}
