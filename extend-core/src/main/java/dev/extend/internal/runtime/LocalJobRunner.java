package dev.extend.internal.runtime;

import dev.extend.spi.JobRunner;
import java.io.IOException;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/** Runs jobs as plain child processes on the host (development: not isolated). */
public final class LocalJobRunner implements JobRunner {

  @Override
  public String workPath(Job job) {
    return job.workDir().toString();
  }

  @Override
  public int run(Job job) throws IOException, InterruptedException, TimeoutException {
    ProcessBuilder pb = new ProcessBuilder(job.command());
    pb.directory(job.workDir().toFile());
    pb.redirectErrorStream(true);
    LocalProcessRuntime.cleanEnvironment(pb.environment(), job.env());
    Process p = pb.start();
    LocalProcessRuntime.pump(p.getInputStream(), job.output(), "extend-job-" + job.id());
    if (!p.waitFor(job.timeout().toMillis(), TimeUnit.MILLISECONDS)) {
      List<ProcessHandle> children = p.descendants().toList();
      p.destroyForcibly();
      children.forEach(ProcessHandle::destroyForcibly);
      p.waitFor(5, TimeUnit.SECONDS);
      throw new TimeoutException("job " + job.id() + " did not finish within " + job.timeout());
    }
    return p.exitValue();
  }
}
