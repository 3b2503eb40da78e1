package dev.extend.spi;

import java.io.IOException;
import java.nio.file.Path;

/**
 * Starts and stops sandboxes: isolated processes running the sandbox agent.
 *
 * <p>Duties of an implementation:
 * <ol>
 *   <li>{@link #start} starts {@code node agent.js} from the spec's agent directory with the
 *       arguments {@code --socket <socket> --code <codePath> --modules <moduleStorePath>} as
 *       seen from inside the sandbox, and returns once the process is started (not necessarily
 *       listening; the platform waits for the socket).
 *   <li>Isolation (for runtimes where {@link #isolating()} is true): the sandbox sees none of
 *       the host but its code directory (read-only), the module store (read-only), the agent
 *       (read-only) and its socket directory (read-write); it runs as an unprivileged user
 *       with no capabilities, no network beyond loopback unless it {@link #enforcesEgress() enforces
 *       egress policies}, and its limits enforced. After
 *       {@link Sandbox#seal()} the sandbox can no longer change what the host reaches at its
 *       socket path. Nothing visible inside (mount table, cgroup path, hostname) names another
 *       sandbox.
 *   <li>The environment of the sandboxed process carries nothing of the platform's (no
 *       credentials, no keys).
 *   <li>stdout and stderr reach the spec's {@code output} line by line; a runtime may cap
 *       the volume it keeps.
 *   <li>{@link Sandbox#exit()} completes promptly (within about a second) when the sandbox
 *       ends for any reason: crash, OOM kill, exit, destroy.
 *   <li>{@link Sandbox#destroy} releases everything (container, task, processes, mounts,
 *       files), also for a sandbox that already ended; {@link #close()} destroys every sandbox
 *       this runtime started. {@link #recover()} removes what an earlier run of the same node
 *       left behind (after a crash of the JVM), and the runtime keeps reconciling while it
 *       runs: whatever it still holds for this node that no live sandbox or job owns is removed.
 *   <li>Thread-safe: sandboxes may be started and destroyed concurrently.
 * </ol>
 */
public interface SandboxRuntime extends AutoCloseable {

  /** A short name for logs and metrics, e.g. {@code containerd} or {@code local}. */
  String name();

  /** Whether sandboxes are isolated from the host and from each other. */
  boolean isolating();

  /**
   * Prepares the runtime: connects, assembles what it needs, and removes leftovers of an
   * earlier run of this node. Called once by the platform before the first {@link #start}.
   */
  default void recover() throws IOException {}

  /** Starts a sandbox. */
  Sandbox start(SandboxSpec spec) throws IOException;

  /**
   * A description of the runtime's health for readiness checks: null when healthy, else what
   * is wrong.
   */
  default String problem() {
    return null;
  }

  /**
   * Whether sandboxes get a network of their own with outbound connections under an {@link
   * dev.extend.EgressPolicy} (see {@link Sandbox#egress}). A runtime that does not enforce
   * either gives sandboxes no network beyond loopback or, like the development runtime, the
   * host's whole network; the platform says which at start-up. Default: false.
   */
  default boolean enforcesEgress() {
    return false;
  }

  /** Sets who hears of refused connections (at most one; the platform sets it before start). */
  default void egressListener(EgressListener listener) {}

  /** Per-container egress counters of this node since start. Default: none. */
  default java.util.Map<dev.extend.ContainerName, dev.extend.EgressCounters> egressCounters() {
    return java.util.Map.of();
  }

  /**
   * Runs one-off jobs (module builds) in this runtime's environment. Default: none.
   */
  default java.util.Optional<JobRunner> jobRunner() {
    return java.util.Optional.empty();
  }

  /** Destroys every sandbox this runtime started and releases its resources. */
  @Override
  void close();

  /**
   * The development runtime: each sandbox is a plain child process running the runtime's
   * {@code node} ({@link SandboxSpec#runtimeDir()}). It does <b>not</b> isolate tenants from each
   * other or from the host; the platform says so loudly.
   */
  static SandboxRuntime localProcesses() {
    return new dev.extend.internal.runtime.LocalProcessRuntime();
  }
}
