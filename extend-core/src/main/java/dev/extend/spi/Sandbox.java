package dev.extend.spi;

import java.io.IOException;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;

/** One running sandbox started by a {@link SandboxRuntime}. */
public interface Sandbox {

  /** Its id, as given in its {@link SandboxSpec}. */
  String id();

  /** The spec it was started from. */
  SandboxSpec spec();

  /**
   * The path under which the sandboxed process sees the module store. Symlinks the platform
   * writes into the code directory point below this path.
   */
  String moduleStorePath();

  /** The path under which the sandboxed process sees its code directory. */
  String codePath();

  /**
   * Called by the platform once, after the agent first answered on {@link SandboxSpec#socket()}
   * and before any tenant code is loaded: from then on nothing the sandboxed process does may
   * change what the host reaches at that path (no replacing the socket with a link to another
   * sandbox's socket or any other socket of the host). An isolating runtime must implement it
   * (e.g. by making the socket directory read-only) and must check that the path is the socket
   * itself, not a link; it throws when it cannot guarantee this, and the platform then destroys
   * the sandbox instead of using it. Default: nothing (for runtimes that do not isolate).
   */
  default void seal() throws IOException {}

  /** Completes when the sandbox's main process has ended, for whatever reason. */
  CompletableFuture<SandboxExit> exit();

  /**
   * Applies new limits to the running sandbox where the runtime can (e.g. a cgroup update
   * when a container with larger limits is assigned). Default: nothing.
   */
  default void updateLimits(SandboxLimits limits) {}

  /**
   * Applies the egress policy of the container this sandbox now serves. The platform calls it
   * before it loads the container's first code into the sandbox, and again whenever the policy
   * changes; once it returns, new connections follow the policy and open ones follow it from
   * their next packet. A runtime that {@link SandboxRuntime#enforcesEgress() enforces egress}
   * throws when it cannot apply the policy (the platform then loads nothing); until the first
   * call a sandbox has no egress at all. Default: nothing, for runtimes that do not enforce.
   *
   * @param container the container the sandbox serves (for logs and counters)
   * @param policy the effective policy (the platform's entries included)
   */
  default void egress(dev.extend.ContainerName container, dev.extend.EgressPolicy policy) throws IOException {}

  /**
   * Stops the sandbox: SIGTERM, then SIGKILL after {@code grace}, then releases everything
   * the runtime holds for it. Idempotent; returns once released. The platform calls it for
   * every sandbox it started, also for one that ended by itself (exit, crash, OOM kill), so
   * that its container, task, mounts and files are released on every path.
   */
  void destroy(Duration grace);
}
