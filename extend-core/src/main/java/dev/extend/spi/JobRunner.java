package dev.extend.spi;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;

/**
 * Runs one command to completion in the same environment the sandboxes run in (same root
 * filesystem, Node and npm), with network access, for module builds.
 *
 * <p>Duties of an implementation:
 * <ol>
 *   <li>The command sees the job's host {@code workDir} read-write at {@link #workPath()} and
 *       nothing else of the host that a sandbox would not see (plus what name resolution and
 *       TLS need to reach a package registry).
 *   <li>It runs as an unprivileged user with the sandbox's hardening where the runtime isolates.
 *   <li>Output reaches {@code output} line by line. The job is killed when it outlives its
 *       timeout, and {@link TimeoutException} is thrown.
 *   <li>Everything the job created outside {@code workDir} is removed when it ends.
 * </ol>
 */
public interface JobRunner {

  /**
   * One job.
   *
   * @param id unique id (letters, digits, '-', '_', '.')
   * @param command the command and its arguments, as seen inside the environment
   * @param env environment variables (nothing else of the platform's environment is passed)
   * @param workDir host directory, read-write for the job
   * @param timeout the longest the job may run
   * @param output receives stdout and stderr line by line
   */
  record Job(String id, List<String> command, Map<String, String> env, Path workDir, Duration timeout,
      Consumer<String> output) {}

  /** The path under which jobs see their work directory. */
  String workPath(Job job);

  /** Runs a job and returns its exit status. */
  int run(Job job) throws IOException, InterruptedException, TimeoutException;

  /**
   * Runs jobs as plain child processes of this JVM: for development and the local runtime.
   * It does <b>not</b> isolate: install scripts run with this JVM's user and see the host.
   */
  static JobRunner localProcesses() {
    return new dev.extend.internal.runtime.LocalJobRunner();
  }
}
