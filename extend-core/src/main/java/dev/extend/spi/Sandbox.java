package dev.extend.spi;

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

  /** Completes when the sandbox's main process has ended, for whatever reason. */
  CompletableFuture<SandboxExit> exit();

  /**
   * Applies new limits to the running sandbox where the runtime can (e.g. a cgroup update
   * when a container with larger limits is assigned). Default: nothing.
   */
  default void updateLimits(SandboxLimits limits) {}

  /**
   * Stops the sandbox: SIGTERM, then SIGKILL after {@code grace}, then releases everything
   * the runtime holds for it. Idempotent; returns once released.
   */
  void destroy(Duration grace);
}
