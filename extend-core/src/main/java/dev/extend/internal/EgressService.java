package dev.extend.internal;

import dev.extend.ContainerName;
import dev.extend.EgressPolicy;
import dev.extend.LogEvent;
import dev.extend.UnavailableException;
import dev.extend.internal.sandbox.ManagedSandbox;
import dev.extend.internal.sandbox.SandboxManager;
import dev.extend.internal.sandbox.SandboxState;
import dev.extend.spi.EgressListener;
import dev.extend.spi.EgressStore;
import dev.extend.spi.StoredEgressPolicy;
import java.io.IOException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Per-container egress policies: stores them, computes each container's effective policy (its
 * stored policy, else the platform's default mode, plus the platform's entries), and keeps this
 * node's sandboxes under it.
 *
 * <ul>
 *   <li>{@link #prepare}: a sandbox freshly assigned to a container gets the container's policy
 *       before its first code is loaded (the invoker calls it on the cold path only);
 *   <li>{@link #refresh}: every {@code egressRefresh}, one store call asks for the revisions of
 *       the containers that have sandboxes here; a container whose revision moved is read again
 *       and its sandboxes get the new policy, without a restart. A change made through this
 *       node applies at once;
 *   <li>{@link #denied}: refusals the runtime reports become a line of the container's log.
 * </ul>
 *
 * <p>A sandbox whose policy cannot be applied is recycled: no code runs under a policy other
 * than its container's. When the store is unreachable, the last known policies stay in force.
 * With a runtime that does not {@link dev.extend.spi.SandboxRuntime#enforcesEgress() enforce}
 * egress, policies are stored and shown but nothing is applied, and the invocation path does
 * not touch the store.
 */
public final class EgressService implements EgressListener {
  private static final Logger LOG = LoggerFactory.getLogger(EgressService.class);
  /** Log lines about refused connections per container and second; the rest are counted. */
  static final int DENIAL_LINES_PER_SECOND = 10;
  /** Containers whose line budget is tracked; beyond it the table starts over. */
  private static final int MAX_TRACKED = 4096;
  /** Longest destination quoted in a log line. */
  private static final int MAX_DESTINATION = 256;

  /** What this node knows of a container's policy: the revision (0: none stored), and when it was checked. */
  private record Known(long revision, EgressPolicy effective, long checkedNanos) {}

  /** A container's budget of denial lines in the current second. */
  private static final class Budget {
    long second;
    int lines;
    long dropped;
  }

  private final EgressStore store;
  private final EgressPolicy platform;
  private final EgressPolicy fallback;
  private final boolean enforcing;
  private final LogHub logs;
  private final long refreshNanos;
  private final Map<ContainerName, Known> known = new ConcurrentHashMap<>();
  private final Map<ContainerName, Budget> budgets = new ConcurrentHashMap<>();
  private final AtomicLong denials = new AtomicLong();
  private volatile SandboxManager sandboxes;
  private boolean storeDown; // refresh() only, under this

  /**
   * Creates the service.
   *
   * @param platform the platform's policy: its mode is the default, its entries go to every container
   * @param enforcing whether the runtime enforces policies (else nothing is applied)
   */
  public EgressService(EgressStore store, EgressPolicy platform, boolean enforcing, LogHub logs, Duration refresh) {
    this.store = store;
    this.platform = platform;
    this.fallback = new EgressPolicy(platform.mode(), List.of()).plus(platform.allow());
    this.enforcing = enforcing;
    this.logs = logs;
    this.refreshNanos = refresh.toNanos();
  }

  /** The sandboxes to keep under their policies (set once the manager exists). */
  void attach(SandboxManager manager) {
    this.sandboxes = manager;
  }

  /** Whether policies are applied to sandboxes (the runtime enforces them). */
  public boolean enforcing() {
    return enforcing;
  }

  /** The platform's policy: the default mode and the entries every container gets. */
  public EgressPolicy platformPolicy() {
    return platform;
  }

  /** The effective policy of a container with {@code stored} (null: none stored). */
  EgressPolicy effective(StoredEgressPolicy stored) {
    return stored == null ? fallback : stored.policy().plus(platform.allow());
  }

  // ---- management -------------------------------------------------------------------------

  /** A container's effective policy, read from the store. */
  public EgressPolicy effective(ContainerName container) {
    return effective(store.get(container).orElse(null));
  }

  /** A container's stored policy, or empty when it follows the platform's default. */
  public Optional<StoredEgressPolicy> stored(ContainerName container) {
    return store.get(container);
  }

  /** Stores a container's policy and applies it to the container's sandboxes on this node at once. */
  public synchronized StoredEgressPolicy set(ContainerName container, EgressPolicy policy) {
    Objects.requireNonNull(policy, "policy");
    StoredEgressPolicy stored = store.put(container, policy);
    LOG.info("egress policy of container {} set to {}", container, policy);
    applyToSandboxes(container, remember(container, stored.revision(), effective(stored)));
    return stored;
  }

  /** Returns a container to the platform's default and applies that at once; true when it had a policy. */
  public synchronized boolean reset(ContainerName container) {
    boolean had = store.delete(container);
    if (had) {
      LOG.info("egress policy of container {} reset to the platform's default ({})", container, fallback);
    }
    applyToSandboxes(container, remember(container, 0, fallback));
    return had;
  }

  /** A container was deleted: its policy goes too (its sandboxes are retired by the caller). */
  public synchronized void forget(ContainerName container) {
    store.delete(container);
    known.remove(container);
    budgets.remove(container);
  }

  // ---- sandboxes ------------------------------------------------------------------------

  /**
   * Applies its container's policy to a sandbox that has had none yet, before its first code is
   * loaded. When the policy cannot be applied (or not even read, with nothing known), the sandbox
   * is recycled and the call fails with 503.
   */
  void prepare(ManagedSandbox m) {
    if (!enforcing || m.egressRevision() != null) {
      return;
    }
    ContainerName c = m.container();
    Known k = known.get(c);
    if (k == null || System.nanoTime() - k.checkedNanos() > refreshNanos) {
      try {
        StoredEgressPolicy stored = store.get(c).orElse(null);
        k = remember(c, stored == null ? 0 : stored.revision(), effective(stored));
      } catch (RuntimeException e) {
        if (k == null) {
          LOG.warn("the egress policy of container {} cannot be read: {}", c, e.toString());
          throw new UnavailableException("the egress policy of container " + c + " cannot be read right now; retry",
              e);
        }
        // the store is away: the last known policy stays in force
      }
    }
    if (!apply(m, k)) {
      throw new UnavailableException("the egress policy of container " + c
          + " could not be applied to its sandbox; retry");
    }
  }

  /**
   * One round of re-validation: the revisions of the containers with sandboxes here, in one
   * store call; changed ones are read again and applied to their sandboxes. Sandboxes that
   * missed an application (a failure, a race with a change) get it here too.
   */
  synchronized void refresh() {
    SandboxManager manager = sandboxes;
    if (!enforcing || manager == null) {
      return;
    }
    Map<ContainerName, List<ManagedSandbox>> byContainer = new HashMap<>();
    for (ManagedSandbox m : manager.sandboxes()) {
      if (m.state() == SandboxState.ASSIGNED && m.container() != null && m.egressRevision() != null) {
        byContainer.computeIfAbsent(m.container(), x -> new ArrayList<>()).add(m);
      }
    }
    long now = System.nanoTime();
    Map<ContainerName, Long> revisions;
    try {
      revisions = byContainer.isEmpty() ? Map.of() : store.revisions(byContainer.keySet());
    } catch (RuntimeException e) {
      if (!storeDown) {
        storeDown = true;
        LOG.warn("egress policies cannot be re-validated ({}); the last known ones stay in force until the"
            + " store is back", e.toString());
      }
      return;
    }
    if (storeDown) {
      storeDown = false;
      LOG.info("egress policies are re-validated again");
    }
    for (Map.Entry<ContainerName, List<ManagedSandbox>> e : byContainer.entrySet()) {
      ContainerName c = e.getKey();
      long revision = revisions.getOrDefault(c, 0L);
      Known k = known.get(c);
      if (k == null || k.revision() != revision) {
        try {
          StoredEgressPolicy stored = revision == 0 ? null : store.get(c).orElse(null);
          boolean changed = k != null;
          k = remember(c, stored == null ? 0 : stored.revision(), effective(stored));
          if (changed) {
            LOG.info("egress policy of container {} changed: {}", c, k.effective());
          }
        } catch (RuntimeException ex) {
          LOG.warn("the egress policy of container {} cannot be read: {}", c, ex.toString());
          continue;
        }
      } else {
        k = remember(c, k.revision(), k.effective());
      }
      for (ManagedSandbox m : e.getValue()) {
        Long applied = m.egressRevision();
        if (applied == null || applied != k.revision()) {
          apply(m, k);
        }
      }
    }
    // what no sandbox here uses any more is forgotten after a while
    long stale = Math.max(10 * refreshNanos, Duration.ofMinutes(1).toNanos());
    known.entrySet().removeIf(x -> !byContainer.containsKey(x.getKey()) && now - x.getValue().checkedNanos() > stale);
  }

  private Known remember(ContainerName c, long revision, EgressPolicy effective) {
    Known k = new Known(revision, effective, System.nanoTime());
    known.put(c, k);
    return k;
  }

  private void applyToSandboxes(ContainerName container, Known k) {
    SandboxManager manager = sandboxes;
    if (!enforcing || manager == null) {
      return;
    }
    for (ManagedSandbox m : manager.sandboxes()) {
      if (container.equals(m.container()) && m.egressRevision() != null && m.state() == SandboxState.ASSIGNED) {
        apply(m, k);
      }
    }
  }

  /** Applies a policy to a sandbox; on failure the sandbox is recycled and false returned. */
  private boolean apply(ManagedSandbox m, Known k) {
    synchronized (m.egressLock()) {
      Long applied = m.egressRevision();
      if (applied != null && applied == k.revision()) {
        return true;
      }
      try {
        m.sandbox().egress(m.container(), k.effective());
        m.markEgress(k.revision());
        return true;
      } catch (IOException | RuntimeException e) {
        LOG.warn("cannot apply the egress policy of container {} to sandbox {}: {}", m.container(), m.id(),
            e.toString());
      }
    }
    // no code may run under a policy other than its container's
    SandboxManager manager = sandboxes;
    if (manager != null) {
      manager.recycle(m, "egress policy could not be applied");
    }
    return false;
  }

  // ---- refusals -------------------------------------------------------------------------

  /** Refusals heard from the runtime since start (for diagnostics and tests). */
  public long denials() {
    return denials.get();
  }

  /**
   * A refusal reported by the runtime: a platform line in the container's log, at most {@value
   * #DENIAL_LINES_PER_SECOND} a second per container (the next line says how many were left out).
   */
  @Override
  public void denied(ContainerName container, String sandboxId, String destination, String protocol) {
    if (container == null) {
      return;
    }
    denials.incrementAndGet();
    long second = System.nanoTime() / 1_000_000_000L;
    long dropped;
    if (budgets.size() > MAX_TRACKED) {
      budgets.clear();
    }
    Budget b = budgets.computeIfAbsent(container, x -> new Budget());
    synchronized (b) {
      if (b.second != second) {
        b.second = second;
        b.lines = 0;
      }
      if (b.lines >= DENIAL_LINES_PER_SECOND) {
        b.dropped++;
        return;
      }
      b.lines++;
      dropped = b.dropped;
      b.dropped = 0;
    }
    logs.publish(new LogEvent(Instant.now(), container, null, null, LogEvent.PLATFORM,
        denialLine(destination, protocol, dropped)));
  }

  /** {@code egress to 10.1.2.3:5432 denied by policy}, the protocol named when it is not TCP. */
  static String denialLine(String destination, String protocol, long dropped) {
    StringBuilder sb = new StringBuilder("egress to ").append(clean(destination));
    if (protocol != null && !protocol.isEmpty() && !protocol.equalsIgnoreCase("tcp")) {
      sb.append(" (").append(clean(protocol)).append(')');
    }
    sb.append(" denied by policy");
    if (dropped > 0) {
      sb.append(" (").append(dropped).append(" more refused before this were not logged)");
    }
    return sb.toString();
  }

  // A destination may carry a name the sandbox looked up: printable characters only, bounded.
  private static String clean(String s) {
    if (s == null) {
      return "?";
    }
    StringBuilder sb = new StringBuilder(Math.min(s.length(), MAX_DESTINATION));
    for (int i = 0; i < s.length() && sb.length() < MAX_DESTINATION; i++) {
      char ch = s.charAt(i);
      sb.append(ch < 0x20 || ch == 0x7f ? '?' : ch);
    }
    return sb.toString();
  }
}
