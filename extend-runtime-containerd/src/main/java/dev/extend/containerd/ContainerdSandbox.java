package dev.extend.containerd;

import dev.extend.spi.Sandbox;
import dev.extend.spi.SandboxExit;
import dev.extend.spi.SandboxLimits;
import dev.extend.spi.SandboxSpec;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;

/** A sandbox backed by one containerd task. */
final class ContainerdSandbox implements Sandbox {
  private final SandboxSpec spec;
  final ContainerdTask task;
  private final ContainerdRuntime runtime;

  ContainerdSandbox(SandboxSpec spec, ContainerdTask task, ContainerdRuntime runtime) {
    this.spec = spec;
    this.task = task;
    this.runtime = runtime;
  }

  /** Routes the sandbox's packets through its container's policy chain (see {@link SandboxNetwork}). */
  @Override
  public void egress(dev.extend.ContainerName container, dev.extend.EgressPolicy policy) throws IOException {
    runtime.applyEgress(task, container, policy);
  }

  @Override
  public String id() {
    return spec.id();
  }

  @Override
  public SandboxSpec spec() {
    return spec;
  }

  @Override
  public String moduleStorePath() {
    return OciSpecs.MODULES;
  }

  @Override
  public String codePath() {
    return OciSpecs.CODE;
  }

  /** Makes the socket directory read-only (see {@link HostMounts#seal}). */
  @Override
  public void seal() throws IOException {
    HostMounts.seal(spec.socketDir(), spec.socket());
  }

  @Override
  public CompletableFuture<SandboxExit> exit() {
    return task.exit();
  }

  /** Rewrites the task's cgroup limits (memory, CPU quota, pids); {@code /tmp} keeps its size. */
  @Override
  public void updateLimits(SandboxLimits limits) {
    try {
      task.update(limits);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  @Override
  public void destroy(Duration grace) {
    task.release(grace);
  }

  @Override
  public String toString() {
    return "containerd sandbox " + spec.id() + " (" + task.containerId + ")";
  }
}
