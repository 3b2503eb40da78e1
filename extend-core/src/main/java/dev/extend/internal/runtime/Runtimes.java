package dev.extend.internal.runtime;

import dev.extend.ConflictException;
import dev.extend.NodeRuntime;
import dev.extend.ValidationException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The platform's runtimes by name, which one webhooks get by default, and their verified
 * distributions on this host.
 *
 * <ul>
 *   <li>Writes name a runtime explicitly: a webhook written without one gets the default at
 *       that moment and keeps it, so changing the default never moves a webhook silently.
 *   <li>A retired runtime refuses writes and calls with a 409 naming it; a deprecated one still
 *       runs and accepts writes.
 *   <li>A module built for an ABI is built with the newest runtime of that ABI that is not
 *       retired.
 * </ul>
 */
public final class Runtimes {
  /** The error code of a call or write on a retired runtime. */
  public static final String RETIRED_CODE = "runtime_retired";

  private final Map<String, NodeRuntime> byName;
  private final NodeRuntime defaultRuntime;
  private final NodeDistributions distributions;
  private final Map<String, Path> ready = new ConcurrentHashMap<>();

  /** Runtimes in the order given, the default by name, distributions from {@code distributions}. */
  public Runtimes(List<NodeRuntime> runtimes, String defaultRuntime, NodeDistributions distributions) {
    Map<String, NodeRuntime> m = new LinkedHashMap<>();
    runtimes.forEach(r -> m.put(r.name(), r));
    this.byName = java.util.Collections.unmodifiableMap(m);
    this.defaultRuntime = m.get(defaultRuntime);
    if (this.defaultRuntime == null) {
      throw new IllegalArgumentException("no runtime " + defaultRuntime);
    }
    this.distributions = distributions;
  }

  /** Every runtime, in configuration order. */
  public List<NodeRuntime> all() {
    return List.copyOf(byName.values());
  }

  /** The runtime webhooks get when they name none. */
  public NodeRuntime defaultRuntime() {
    return defaultRuntime;
  }

  /** The runtime of that name, if configured. */
  public Optional<NodeRuntime> get(String name) {
    return Optional.ofNullable(name == null ? null : byName.get(name));
  }

  /**
   * The runtime a webhook write gets: the one named (the default when null).
   *
   * @throws ValidationException naming {@code runtime} when it is unknown
   * @throws ConflictException when it is retired
   */
  public NodeRuntime forWrite(String name) {
    NodeRuntime r = name == null ? defaultRuntime : byName.get(NodeRuntime.checkName(name));
    if (r == null) {
      throw new ValidationException("runtime", "unknown runtime '" + name + "'; the platform offers " + offered());
    }
    if (r.state() == NodeRuntime.State.RETIRED) {
      throw new ConflictException(RETIRED_CODE, "runtime " + r.name() + " is retired; choose one of " + offered());
    }
    return r;
  }

  /**
   * The runtime a stored webhook runs on (the default for webhooks stored before they named one).
   *
   * @throws ConflictException when it is retired or no longer configured: never a silent upgrade
   */
  public NodeRuntime forCall(String name) {
    NodeRuntime r = name == null ? defaultRuntime : byName.get(name);
    if (r == null) {
      throw new ConflictException(RETIRED_CODE, "runtime " + name + " is no longer offered by this platform;"
          + " update the webhook to one of " + offered());
    }
    if (r.state() == NodeRuntime.State.RETIRED) {
      throw new ConflictException(RETIRED_CODE, "runtime " + r.name() + " is retired; update the webhook to one of "
          + offered());
    }
    return r;
  }

  /** As {@link #forCall} without throwing: null when the runtime cannot run (the caller takes the slow path). */
  public NodeRuntime runnable(String name) {
    NodeRuntime r = name == null ? defaultRuntime : byName.get(name);
    return r == null || r.state() == NodeRuntime.State.RETIRED ? null : r;
  }

  /** The runtime modules of {@code abi} are built with: the last configured of that ABI not retired. */
  public Optional<NodeRuntime> forAbi(int abi) {
    return byName.values().stream().filter(r -> r.abi() == abi && r.state() != NodeRuntime.State.RETIRED)
        .max(Comparator.comparing(r -> versionKey(r.nodeVersion())));
  }

  /** The names of the runtimes not retired. */
  public List<String> offered() {
    return byName.values().stream().filter(r -> r.state() != NodeRuntime.State.RETIRED).map(NodeRuntime::name).toList();
  }

  /** The runtime's verified distribution on this host, fetched the first time. */
  public Path distribution(NodeRuntime runtime) {
    Path p = ready.get(runtime.distributionId());
    if (p != null) {
      return p;
    }
    try {
      p = distributions.ensure(runtime);
    } catch (IOException e) {
      throw new UncheckedIOException("runtime " + runtime.name() + " (Node.js " + runtime.nodeVersion()
          + ") is not available: " + e.getMessage(), e);
    }
    ready.put(runtime.distributionId(), p);
    return p;
  }

  /** The distribution if already on this host, without fetching. */
  public Path distributionIfPresent(NodeRuntime runtime) {
    Path p = ready.get(runtime.distributionId());
    return p != null ? p : distributions.present(runtime);
  }

  /** Where distributions are kept. */
  public NodeDistributions distributions() {
    return distributions;
  }

  private static String versionKey(String v) {
    StringBuilder b = new StringBuilder();
    for (String part : v.split("\\.")) {
      b.append(String.format("%05d", Integer.parseInt(part)));
    }
    return b.toString();
  }
}
