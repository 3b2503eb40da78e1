package dev.extend.internal.sandbox;

import dev.extend.ContainerName;
import dev.extend.WebhookName;
import dev.extend.spi.Sandbox;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/** A sandbox as the manager tracks it. */
public final class ManagedSandbox {
  final String id;
  final Sandbox sandbox;
  /** The name of the runtime it runs. */
  final String runtime;
  volatile SandboxState state = SandboxState.STARTING;
  volatile ContainerName container;
  volatile long lastUsedNanos = System.nanoTime();
  final AtomicInteger active = new AtomicInteger();
  /** Webhook name to the version the agent has loaded. */
  final Map<WebhookName, Long> loaded = new ConcurrentHashMap<>();
  /** Webhook name to the modules its loaded version links. */
  final Map<WebhookName, java.util.List<dev.extend.ModuleRef>> modules = new ConcurrentHashMap<>();

  /** A recent invocation: its webhook, and when its answer came (0 while in flight). */
  private static final class Invocation {
    final WebhookName webhook;
    volatile long endedAt;

    Invocation(WebhookName webhook) {
      this.webhook = webhook;
    }
  }

  /** How long after its answer an invocation's late log lines are still attributed to it. */
  private static final long LATE_LINES_NANOS = java.util.concurrent.TimeUnit.SECONDS.toNanos(60);
  private static final int KEEP = 1024;

  /**
   * The revision of the egress policy last applied to it (0: the platform's default), or null
   * while none has been: no code is loaded into it before one is.
   */
  private volatile Long egressRevision;
  /** Held while a policy is applied, so that two applications do not interleave. */
  private final Object egressLock = new Object();

  /** Invocations sent to this sandbox, in flight or recent: the only ones its log lines may name. */
  private final Map<String, Invocation> invocations = new ConcurrentHashMap<>();

  ManagedSandbox(String id, Sandbox sandbox, String runtime) {
    this.id = id;
    this.sandbox = sandbox;
    this.runtime = runtime;
  }

  /** The name of the runtime it runs ({@code node22}). */
  public String runtime() {
    return runtime;
  }

  /** The sandbox's id. */
  public String id() {
    return id;
  }

  /** The runtime's sandbox. */
  public Sandbox sandbox() {
    return sandbox;
  }

  /** The host path of its agent's socket. */
  public java.nio.file.Path socket() {
    return sandbox.spec().socket();
  }

  /** Its state. */
  public SandboxState state() {
    return state;
  }

  /** The container it serves, or null while warm. */
  public ContainerName container() {
    return container;
  }

  /** The version of a webhook its agent has loaded, or null. */
  public Long loadedVersion(WebhookName name) {
    return loaded.get(name);
  }

  /** Records that the agent loaded a version of a webhook. */
  public void markLoaded(WebhookName name, long version) {
    loaded.put(name, version);
  }

  /** Records the modules a webhook's loaded version links (kept on the host while it lives). */
  public void markModules(WebhookName name, java.util.List<dev.extend.ModuleRef> deps) {
    modules.put(name, java.util.List.copyOf(deps));
  }

  /** The modules the webhooks loaded in this sandbox link. */
  public java.util.Set<dev.extend.ModuleRef> modulesInUse() {
    java.util.Set<dev.extend.ModuleRef> all = new java.util.HashSet<>();
    modules.values().forEach(all::addAll);
    return all;
  }

  /** The revision of the egress policy applied to it, or null before the first. */
  public Long egressRevision() {
    return egressRevision;
  }

  /** Records that the egress policy of {@code revision} was applied. */
  public void markEgress(long revision) {
    egressRevision = revision;
  }

  /** The lock an egress policy is applied under. */
  public Object egressLock() {
    return egressLock;
  }

  /** Records an invocation sent to this sandbox. */
  public void began(String invocationId, WebhookName webhook) {
    if (invocations.size() >= KEEP) {
      long now = System.nanoTime();
      invocations.values().removeIf(i -> i.endedAt != 0 && now - i.endedAt > LATE_LINES_NANOS);
      if (invocations.size() >= KEEP) {
        invocations.values().removeIf(i -> i.endedAt != 0);
      }
    }
    invocations.put(invocationId, new Invocation(webhook));
  }

  /** Records that an invocation's answer came (its late log lines are still attributed for a while). */
  public void ended(String invocationId) {
    Invocation i = invocations.get(invocationId);
    if (i != null) {
      i.endedAt = System.nanoTime() | 1;
    }
  }

  /**
   * The webhook of an invocation this sandbox was sent, in flight or recent, or null: a log
   * line naming anything else was made up by the code in the sandbox.
   */
  public WebhookName attribution(String invocationId) {
    Invocation i = invocationId == null ? null : invocations.get(invocationId);
    return i == null ? null : i.webhook;
  }

  /** Marks an invocation started. */
  public void enter() {
    active.incrementAndGet();
    lastUsedNanos = System.nanoTime();
  }

  /** Marks an invocation ended. */
  public void exit() {
    lastUsedNanos = System.nanoTime();
    active.decrementAndGet();
  }

  @Override
  public String toString() {
    return id + "[" + state + (container != null ? " " + container : "") + "]";
  }
}
