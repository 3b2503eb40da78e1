package dev.extend.internal;

import dev.extend.ContainerName;
import dev.extend.TooManyRequestsException;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The first link of an invocation: how many invocations of each container this node has in
 * flight (waiting for their answer), against the platform's limit or the container's own. One
 * container cannot hold the node's connections, threads and file descriptors for everyone.
 * Entered only once the webhook resolved, so the counters are bounded by the containers that
 * exist and had traffic on this node.
 * Thread-safe; the hot path is a map lookup and two atomic operations.
 */
final class Admission {
  private final int defaultLimit;
  private final Map<ContainerName, Integer> limits = new ConcurrentHashMap<>();
  private final Map<ContainerName, AtomicInteger> inFlight = new ConcurrentHashMap<>();

  Admission(int defaultLimit) {
    this.defaultLimit = defaultLimit;
  }

  /**
   * Counts an invocation of {@code container} in, or refuses it when the container is at its
   * limit. Every successful call must be matched by {@link #exit}.
   */
  void enter(ContainerName container) {
    AtomicInteger n = inFlight.get(container);
    if (n == null) {
      n = inFlight.computeIfAbsent(container, c -> new AtomicInteger());
    }
    int limit = limit(container);
    if (n.incrementAndGet() > limit) {
      n.decrementAndGet();
      throw new TooManyRequestsException("container " + container + " has " + limit
          + " invocations in flight on this node, its limit (maxInFlightPerContainer); retry later", 1);
    }
  }

  /** Counts an invocation of {@code container} out. */
  void exit(ContainerName container) {
    AtomicInteger n = inFlight.get(container);
    if (n != null) {
      n.decrementAndGet();
    }
  }

  int limit(ContainerName container) {
    Integer own = limits.get(container);
    return own != null ? own : defaultLimit;
  }

  /** Sets a container's own limit; {@code 0} returns it to the platform's. */
  void setLimit(ContainerName container, int limit) {
    if (limit < 0) {
      throw new IllegalArgumentException("maxInFlight cannot be negative, was " + limit);
    }
    if (limit == 0) {
      limits.remove(container);
    } else {
      limits.put(container, limit);
    }
  }

  /** Invocations of {@code container} in flight now. */
  int inFlight(ContainerName container) {
    AtomicInteger n = inFlight.get(container);
    return n == null ? 0 : n.get();
  }
}
