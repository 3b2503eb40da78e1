package dev.extend.spi;

import dev.extend.NodeRuntime;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;

/**
 * Runs one command to completion in the same environment the sandboxes run in (same Node and
 * npm), for module builds.
 *
 * <p>Everything a job writes is hostile: its install scripts are the tenants' code. Duties of
 * an implementation:
 * <ol>
 *   <li>The command sees its work area read-write at {@link #workPath}, holding the job's
 *       {@link Job#inputs() inputs} and nothing else at start, and nothing else of the host
 *       that a sandbox would not see, except the {@link Job#serviceDir() service directory},
 *       read-only at {@link #servicePath}, whose Unix sockets it may connect to.
 *   <li>It runs as an unprivileged user with the sandbox's hardening where the runtime
 *       isolates, without network beyond its own loopback: what it needs from outside (a
 *       package registry) the host serves on a socket in the service directory.
 *   <li>Output reaches {@code output} line by line. The job is killed when it outlives its
 *       timeout, and {@link TimeoutException} is thrown.
 *   <li>The job's {@link Job#collector() collector} runs once the job has ended and none of its
 *       processes is left (so nothing races what it reads), while the work area still exists;
 *       then the work area and everything the job created are removed.
 *   <li>Where the work area is capped and the job filled it, {@link WorkAreaFullException} is
 *       thrown (the collector does not run).
 * </ol>
 */
public interface JobRunner {

  /** Reads what a job left in its work area, after the job's end and before the area goes. */
  @FunctionalInterface
  interface Collector {
    /** Reads nothing. */
    Collector NONE = (status, workDir) -> { };

    /**
     * Called with the job's exit status and the host path of its work area. Everything in it is
     * hostile: open with no-follow, check the file type, cap sizes.
     */
    void collect(int status, Path workDir) throws IOException;
  }

  /**
   * One job.
   *
   * @param id unique id (letters, digits, '-', '_', '.')
   * @param command the command and its arguments, as seen inside the environment
   * @param env environment variables (nothing else of the platform's environment is passed)
   * @param workDir host directory, empty; the runner puts the job's work area there
   * @param timeout the longest the job may run
   * @param output receives stdout and stderr line by line
   * @param inputs files to put in the work area before the job starts, by relative path
   * @param serviceDir a host directory of sockets the host serves the job on, or null
   * @param collector reads results out of the work area after the job (see the duties)
   * @param runtime the Node.js runtime the job runs with
   * @param runtimeDir host directory of that runtime's verified distribution (see {@link
   *     SandboxSpec#runtimeDir()}); the job's {@code node} and {@code npm} come from it
   */
  record Job(String id, List<String> command, Map<String, String> env, Path workDir, Duration timeout,
      Consumer<String> output, Map<String, byte[]> inputs, Path serviceDir, Collector collector,
      NodeRuntime runtime, Path runtimeDir) {
    /** Validates and copies. */
    public Job {
      Objects.requireNonNull(id, "id");
      command = List.copyOf(command);
      env = Map.copyOf(env);
      Objects.requireNonNull(workDir, "workDir");
      Objects.requireNonNull(timeout, "timeout");
      Objects.requireNonNull(output, "output");
      inputs = Map.copyOf(inputs);
      for (String name : inputs.keySet()) {
        if (name.isEmpty() || name.startsWith("/") || List.of(name.split("/")).contains("..")) {
          throw new IllegalArgumentException("input paths must be relative and stay inside: " + name);
        }
      }
      collector = collector == null ? Collector.NONE : collector;
      Objects.requireNonNull(runtime, "runtime");
      Objects.requireNonNull(runtimeDir, "runtimeDir");
    }

    /** A job with no inputs, no service directory and nothing to collect. */
    public Job(String id, List<String> command, Map<String, String> env, Path workDir, Duration timeout,
        Consumer<String> output, NodeRuntime runtime, Path runtimeDir) {
      this(id, command, env, workDir, timeout, output, Map.of(), null, Collector.NONE, runtime, runtimeDir);
    }
  }

  /** The job filled its capped work area; the message says how large it is. */
  final class WorkAreaFullException extends IOException {
    private static final long serialVersionUID = 1L;

    /** With the area's caps. */
    public WorkAreaFullException(long megabytes, long inodes) {
      super("the build's work area is full: " + megabytes + " MiB / " + inodes + " inodes");
    }
  }

  /** The path under which jobs see their work directory. */
  String workPath(Job job);

  /** The path under which jobs see their service directory. */
  String servicePath(Job job);

  /**
   * The prefix under which jobs see the runtime distribution ({@code bin/node}, {@code
   * include/node}, {@code lib/node_modules/npm}); its {@code bin} is on the job's {@code PATH}.
   */
  String runtimePath(Job job);

  /** Runs a job and returns its exit status. */
  int run(Job job) throws IOException, InterruptedException, TimeoutException;

  /**
   * Whether jobs are isolated from the host as sandboxes are (own namespaces, unprivileged
   * user, no host network). Default false: a runner is taken for isolating only when it says so.
   */
  default boolean isolating() {
    return false;
  }

  /**
   * Runs jobs as plain child processes of this JVM: for development and the local runtime.
   * It does <b>not</b> isolate: install scripts run with this JVM's user and see the host.
   */
  static JobRunner localProcesses() {
    return new dev.extend.internal.runtime.LocalJobRunner();
  }
}
