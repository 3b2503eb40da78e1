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
  volatile SandboxState state = SandboxState.STARTING;
  volatile ContainerName container;
  volatile long lastUsedNanos = System.nanoTime();
  final AtomicInteger active = new AtomicInteger();
  /** Webhook name to the version the agent has loaded. */
  final Map<WebhookName, Long> loaded = new ConcurrentHashMap<>();
  /** Webhook name to the modules its loaded version links. */
  final Map<WebhookName, java.util.List<dev.extend.ModuleRef>> modules = new ConcurrentHashMap<>();

  ManagedSandbox(String id, Sandbox sandbox) {
    this.id = id;
    this.sandbox = sandbox;
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
