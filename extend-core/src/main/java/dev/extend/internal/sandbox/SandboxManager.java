package dev.extend.internal.sandbox;

import dev.extend.internal.FileTrees;
import dev.extend.ContainerName;
import dev.extend.NodeRuntime;
import dev.extend.internal.runtime.Runtimes;
import dev.extend.Pool;
import dev.extend.PoolStats;
import dev.extend.UnavailableException;
import dev.extend.spi.PlatformListener;
import dev.extend.spi.SandboxLimits;
import dev.extend.spi.SandboxRuntime;
import dev.extend.spi.SandboxSpec;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BiConsumer;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps this node's sandboxes: a pool of warm generic sandboxes, one assigned sandbox per
 * container, refilled in the background, reclaimed when idle or when the node is at its cap.
 *
 * <p>The hot path ({@link #acquire} for a container that has its sandbox) is one map lookup.
 * Decisions (how many to start, which to evict) are {@link PoolPolicy}'s pure functions.
 */
public final class SandboxManager implements Pool, AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(SandboxManager.class);
  private static final Duration START_TIMEOUT = Duration.ofSeconds(30);

  /** A sandbox handed to an invocation, and whether this call assigned it (a cold start). */
  public record Lease(ManagedSandbox sandbox, boolean cold) {}

  private record Waiter(ContainerName container, CompletableFuture<ManagedSandbox> future) {}

  /** What a sandbox is assigned to: a container's webhooks of one runtime. */
  private record Key(ContainerName container, String runtime) {}

  /** The warm sandboxes, starts and waiting requests of one runtime, and its recent demand. */
  private static final class Lane {
    final NodeRuntime runtime;
    final ArrayDeque<ManagedSandbox> warm = new ArrayDeque<>();
    final ArrayDeque<Waiter> waiters = new ArrayDeque<>();
    int starting;
    /** Cold assignments, decaying: the share of the warm target this runtime gets. */
    double demand;
    int consecutiveFailures;
    volatile String lastStartFailure;
    long refillNotBefore;

    Lane(NodeRuntime runtime) {
      this.runtime = runtime;
    }
  }

  /** Demand halves every minute without cold starts. */
  private static final double DEMAND_HALF_LIFE_NANOS = TimeUnit.MINUTES.toNanos(1);

  private final SandboxRuntime runtime;
  private final Runtimes runtimes;
  private final AgentClient agents;
  private final String nodeId;
  private final Path sandboxesDir;
  private final Path agentDir;
  private final Path moduleStore;
  private final SandboxLimits limits;
  private final int maxSandboxes;
  private final long idleNanos;
  private final Duration waitTimeout;
  private final PlatformListener listener;
  private final BiConsumer<ManagedSandbox, String> output;
  private final java.util.function.Consumer<Path> socketGone;

  private final Object lock = new Object();
  private final Map<Key, CompletableFuture<ManagedSandbox>> byContainer = new ConcurrentHashMap<>();
  private final Map<String, ManagedSandbox> all = new ConcurrentHashMap<>();
  /** By runtime name; guarded by {@link #lock}. */
  private final Map<String, Lane> lanes = new java.util.LinkedHashMap<>();
  private volatile int target;
  private volatile boolean closed;
  private long demandDecayedAt = System.nanoTime();

  private final ScheduledExecutorService scheduler;
  private final ExecutorService starter;
  private final ExecutorService reaper;

  /**
   * Creates the manager; call {@link #start()} to begin filling the pool.
   *
   * @param output receives each line a sandbox writes, with the sandbox
   * @param socketGone told the socket of each sandbox that ended, to drop its connections
   */
  public SandboxManager(SandboxRuntime runtime, Runtimes runtimes, AgentClient agents, String nodeId, Path dataDir,
      Path agentDir,
      Path moduleStore, SandboxLimits limits, int poolSize, int maxSandboxes, Duration idleTimeout,
      Duration waitTimeout, PlatformListener listener, BiConsumer<ManagedSandbox, String> output,
      java.util.function.Consumer<Path> socketGone) {
    this.runtime = runtime;
    this.runtimes = runtimes;
    for (NodeRuntime r : runtimes.all()) {
      lanes.put(r.name(), new Lane(r));
    }
    this.agents = agents;
    this.nodeId = nodeId;
    this.sandboxesDir = dataDir.resolve("sandboxes");
    this.agentDir = agentDir;
    this.moduleStore = moduleStore;
    this.limits = limits;
    this.target = poolSize;
    this.maxSandboxes = maxSandboxes;
    this.idleNanos = idleTimeout.toNanos();
    this.waitTimeout = waitTimeout;
    this.listener = listener;
    this.output = output;
    this.socketGone = socketGone;
    this.scheduler = Executors.newSingleThreadScheduledExecutor(daemon("extend-pool"));
    this.starter = Executors.newFixedThreadPool(Math.max(2, Runtime.getRuntime().availableProcessors()),
        daemon("extend-sandbox-start"));
    this.reaper = Executors.newCachedThreadPool(daemon("extend-sandbox-stop"));
  }

  private static java.util.concurrent.ThreadFactory daemon(String name) {
    AtomicLong n = new AtomicLong();
    return r -> {
      Thread t = new Thread(r, name + "-" + n.incrementAndGet());
      t.setDaemon(true);
      return t;
    };
  }

  /** Removes leftovers of an earlier run and starts filling the pool. */
  public void start() throws IOException {
    Files.createDirectories(sandboxesDir);
    // Directories of sandboxes from an earlier run of this node are stale: the runtime's
    // recover() removed their processes.
    try (Stream<Path> old = Files.list(sandboxesDir)) {
      old.forEach(FileTrees::deleteTree);
    }
    long period = Math.max(100, Math.min(1000, idleNanos / 1_000_000 / 4));
    scheduler.scheduleWithFixedDelay(this::maintain, 0, period, TimeUnit.MILLISECONDS);
  }

  // ---- hot path ---------------------------------------------------------------------------

  /**
   * The sandbox already assigned to {@code container}, counted active (the caller must
   * {@link ManagedSandbox#exit()} it), or null when there is none: never waits.
   */
  public ManagedSandbox tryAssigned(ContainerName container, NodeRuntime runtime) {
    CompletableFuture<ManagedSandbox> f = byContainer.get(new Key(container, runtime.name()));
    if (f != null && f.isDone() && !f.isCompletedExceptionally()) {
      ManagedSandbox m = f.join();
      // counted active before the state check, so eviction (which takes only inactive
      // sandboxes) cannot take it between the check and the call
      m.enter();
      if (m.state == SandboxState.ASSIGNED) {
        return m;
      }
      m.exit();
    }
    return null;
  }

  /**
   * The sandbox serving a container: its assigned one, else a warm one assigned now, else
   * one started for it (the caller waits, bounded by the wait timeout, then 503). The lease
   * counts as an active invocation until the caller calls {@link ManagedSandbox#exit()}.
   */
  public CompletableFuture<Lease> acquire(ContainerName container, NodeRuntime runtime) {
    ManagedSandbox assigned = tryAssigned(container, runtime);
    if (assigned != null) {
      return CompletableFuture.completedFuture(new Lease(assigned, false));
    }
    Key key = new Key(container, runtime.name());
    CompletableFuture<ManagedSandbox> f;
    boolean cold;
    synchronized (lock) {
      if (closed) {
        return CompletableFuture.failedFuture(new UnavailableException("the platform is shutting down"));
      }
      Lane lane = lanes.get(runtime.name());
      if (lane == null) {
        return CompletableFuture.failedFuture(new UnavailableException("runtime " + runtime.name()
            + " is not one of this node's"));
      }
      f = byContainer.get(key);
      if (f != null && (!f.isDone() || (!f.isCompletedExceptionally() && f.join().state == SandboxState.ASSIGNED))) {
        cold = false; // joins an assignment under way (or just made) by another request
      } else {
        cold = true;
        lane.demand += 1;
        f = new CompletableFuture<>();
        byContainer.put(key, f);
        ManagedSandbox w = lane.warm.pollFirst();
        if (w != null) {
          assign(w, container);
          f.complete(w);
        } else {
          lane.waiters.addLast(new Waiter(container, f));
          CompletableFuture<ManagedSandbox> mine = f;
          scheduler.schedule(() -> expireWaiter(lane, key, mine), waitTimeout.toMillis(), TimeUnit.MILLISECONDS);
          scheduler.execute(this::maintain);
        }
      }
    }
    if (cold && f.isDone()) {
      scheduler.execute(this::maintain); // refill behind the one just taken
    }
    if (cold) {
      return f.thenApply(m -> new Lease(m, true)); // assign() counted this lease
    }
    return f.thenApply(m -> {
      m.enter();
      return new Lease(m, false);
    });
  }

  /** Binds a sandbox to a container; counts the assigning request's lease as active. */
  private void assign(ManagedSandbox m, ContainerName container) {
    m.container = container;
    m.enter();
    m.state = SandboxState.ASSIGNED;
  }

  private void expireWaiter(Lane lane, Key key, CompletableFuture<ManagedSandbox> f) {
    synchronized (lock) {
      if (f.isDone()) {
        return;
      }
      lane.waiters.removeIf(w -> w.future == f);
      byContainer.remove(key, f);
    }
    String failure = lane.lastStartFailure;
    String why = failure != null ? "; last sandbox start failed: " + failure : "";
    f.completeExceptionally(new UnavailableException("no sandbox became available for container " + key.container()
        + " within " + waitTimeout.toMillis() + " ms (runtime " + key.runtime() + "; " + statsLine() + ")" + why));
  }

  /**
   * Destroys a sandbox and unbinds it from its container: after a timeout, a crash it caused,
   * or an idle period. The container's next invocation gets a fresh sandbox.
   */
  public void recycle(ManagedSandbox m, String reason) {
    synchronized (lock) {
      if (m.state == SandboxState.DRAINING || m.state == SandboxState.DEAD) {
        return;
      }
      m.state = SandboxState.DRAINING;
      lanes.get(m.runtime).warm.remove(m);
      unbind(m);
    }
    LOG.info("recycling sandbox {} ({})", m.id, reason);
    reaper.execute(() -> {
      m.sandbox.destroy(Duration.ofSeconds(1));
      listener.sandboxEnded(m.id, reason);
    });
  }

  /**
   * Destroys the sandbox assigned to {@code container} on this node, if any (one being assigned
   * is destroyed once assigned): its container was deleted, or one of its webhooks was deleted
   * or replaced, and nothing of the old code may outlive that. Calls in flight on it fail; the
   * container's next call gets a fresh sandbox.
   *
   * @return whether there was a sandbox to retire
   */
  public boolean retire(ContainerName container, String reason) {
    boolean any = false;
    for (Map.Entry<Key, CompletableFuture<ManagedSandbox>> e : byContainer.entrySet()) {
      CompletableFuture<ManagedSandbox> f = e.getValue();
      if (e.getKey().container().equals(container) && !f.isCompletedExceptionally()) {
        f.thenAccept(m -> recycle(m, reason));
        any = true;
      }
    }
    return any;
  }

  private void unbind(ManagedSandbox m) {
    ContainerName c = m.container;
    if (c != null) {
      Key key = new Key(c, m.runtime);
      CompletableFuture<ManagedSandbox> f = byContainer.get(key);
      if (f != null && f.isDone() && !f.isCompletedExceptionally() && f.join() == m) {
        byContainer.remove(key, f);
      }
    }
  }

  // ---- background -------------------------------------------------------------------------

  private void maintain() {
    if (closed) {
      return;
    }
    try {
      List<ManagedSandbox> toRecycle = new ArrayList<>();
      List<NodeRuntime> launch = new ArrayList<>();
      List<ManagedSandbox> surplus = new ArrayList<>();
      synchronized (lock) {
        long now = System.nanoTime();
        decayDemand(now);
        for (Lane l : lanes.values()) {
          l.waiters.removeIf(w -> w.future.isDone());
        }
        PoolPolicy.Counts c = counts();
        List<PoolPolicy.Candidate> assigned = candidates();
        for (String id : PoolPolicy.idle(assigned, now, idleNanos)) {
          toRecycle.add(all.get(id));
        }
        for (String id : PoolPolicy.evictForWaiters(c, assigned)) {
          ManagedSandbox m = all.get(id);
          if (!toRecycle.contains(m)) {
            toRecycle.add(m);
          }
        }
        Map<String, Integer> targets = targets();
        // Lanes with waiters first, so the node's room goes to requests before the warm target.
        List<Lane> order = new ArrayList<>(lanes.values());
        order.sort(java.util.Comparator.comparingInt((Lane l) -> l.waiters.isEmpty() ? 1 : 0));
        int others = c.total();
        for (Lane lane : order) {
          int own = lane.warm.size() + lane.starting;
          PoolPolicy.Counts lc = new PoolPolicy.Counts(lane.warm.size(), lane.starting, others - own,
              lane.waiters.size(), targets.getOrDefault(lane.runtime.name(), 0), maxSandboxes);
          int n = now >= lane.refillNotBefore ? PoolPolicy.toStart(lc) : 0;
          lane.starting += n;
          others += n;
          for (int i = 0; i < n; i++) {
            launch.add(lane.runtime);
          }
          for (int i = PoolPolicy.surplusWarm(lc); i > 0 && !lane.warm.isEmpty(); i--) {
            ManagedSandbox m = lane.warm.pollLast();
            m.state = SandboxState.DRAINING;
            surplus.add(m);
            others--;
          }
        }
      }
      for (ManagedSandbox m : toRecycle) {
        if (m != null) {
          recycle(m, m.active.get() == 0 && System.nanoTime() - m.lastUsedNanos >= idleNanos ? "idle" : "evicted (node at cap)");
        }
      }
      for (ManagedSandbox m : surplus) {
        reaper.execute(() -> {
          m.sandbox.destroy(Duration.ofSeconds(1));
          listener.sandboxEnded(m.id, "pool shrunk");
        });
      }
      for (NodeRuntime r : launch) {
        starter.execute(() -> startOne(r));
      }
    } catch (RuntimeException e) {
      LOG.error("pool maintenance failed", e);
    }
  }

  /** Lets demand fade: it halves every {@link #DEMAND_HALF_LIFE_NANOS} without cold starts. */
  private void decayDemand(long now) {
    double factor = Math.pow(0.5, (now - demandDecayedAt) / DEMAND_HALF_LIFE_NANOS);
    demandDecayedAt = now;
    for (Lane l : lanes.values()) {
      l.demand *= factor;
    }
  }

  /** The warm target split over runtimes in proportion to their recent demand. */
  private Map<String, Integer> targets() {
    Map<String, Double> demand = new java.util.LinkedHashMap<>();
    for (Lane l : lanes.values()) {
      if (l.runtime.state() != NodeRuntime.State.RETIRED) {
        demand.put(l.runtime.name(), l.demand);
      }
    }
    return PoolPolicy.split(target, demand, runtimes.defaultRuntime().name());
  }

  private List<PoolPolicy.Candidate> candidates() {
    List<PoolPolicy.Candidate> out = new ArrayList<>();
    for (ManagedSandbox m : all.values()) {
      if (m.state == SandboxState.ASSIGNED) {
        out.add(new PoolPolicy.Candidate(m.id, m.lastUsedNanos, m.active.get()));
      }
    }
    return out;
  }

  private PoolPolicy.Counts counts() {
    int assigned = 0;
    for (ManagedSandbox m : all.values()) {
      if (m.state == SandboxState.ASSIGNED || m.state == SandboxState.DRAINING) {
        assigned++;
      }
    }
    int warm = 0;
    int starting = 0;
    int waiting = 0;
    for (Lane l : lanes.values()) {
      warm += l.warm.size();
      starting += l.starting;
      waiting += l.waiters.size();
    }
    return new PoolPolicy.Counts(warm, starting, assigned, waiting, target, maxSandboxes);
  }

  private void startOne(NodeRuntime nodeRuntime) {
    Lane lane;
    synchronized (lock) {
      lane = lanes.get(nodeRuntime.name());
    }
    long t0 = System.nanoTime();
    String id = newSandboxId();
    Path dir = sandboxesDir.resolve(id);
    ManagedSandbox m = null;
    try {
      // Closed to other users of the host: only the platform (and, through its own mounts, the
      // sandbox) reaches the code and the agent's socket.
      Files.createDirectory(dir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
      Path code = Files.createDirectory(dir.resolve("code"));
      Path sock = Files.createDirectory(dir.resolve("sock"));
      Files.setPosixFilePermissions(sock, PosixFilePermissions.fromString("rwx------"));
      Files.setPosixFilePermissions(code, PosixFilePermissions.fromString("rwxr-xr-x"));
      ManagedSandbox[] self = new ManagedSandbox[1];
      // The first sandbox of a runtime on this host fetches and verifies its distribution.
      Path runtimeDir = runtimes.distribution(nodeRuntime);
      SandboxSpec spec = new SandboxSpec(id, dir, agentDir, moduleStore, limits, line -> {
        ManagedSandbox s = self[0];
        if (s != null) {
          output.accept(s, line);
        }
      }, nodeRuntime, runtimeDir);
      var sandbox = runtime.start(spec);
      m = new ManagedSandbox(id, sandbox, nodeRuntime.name());
      self[0] = m;
      all.put(id, m);
      ManagedSandbox managed = m;
      sandbox.exit().whenComplete((exit, err) -> onExit(managed,
          exit == null ? "ended: " + err : exit.oomKilled() ? "out of memory" : exit.reason()));
      boolean ready = agents.awaitReady(spec.socket(), t0 + START_TIMEOUT.toNanos(), sandbox.exit());
      if (!ready) {
        throw new IOException("agent of sandbox " + id + " did not answer within " + START_TIMEOUT.toSeconds() + " s"
            + (sandbox.exit().isDone() ? " (it exited: " + sandbox.exit().join().reason() + ")" : ""));
      }
      // Before any tenant code runs in it: from now on the sandbox cannot point the host's path
      // to its agent anywhere else.
      sandbox.seal();
      try {
        agents.warmUp(spec.socket(), spec.codeDir());
      } catch (IOException | java.util.concurrent.TimeoutException e) {
        LOG.debug("warm-up of sandbox {} failed: {}", id, e.toString()); // only a head start
      }
      listener.sandboxStarted(id, System.nanoTime() - t0);
      synchronized (lock) {
        lane.starting--;
        lane.consecutiveFailures = 0;
        lane.lastStartFailure = null;
        if (closed || m.state != SandboxState.STARTING) {
          m.state = SandboxState.DRAINING;
        } else {
          Waiter w = lane.waiters.pollFirst();
          while (w != null && w.future.isDone()) {
            w = lane.waiters.pollFirst();
          }
          if (w != null) {
            assign(m, w.container);
            w.future.complete(m);
          } else {
            m.state = SandboxState.WARM;
            lane.warm.addLast(m);
          }
        }
      }
      if (m.state == SandboxState.DRAINING) {
        m.sandbox.destroy(Duration.ZERO);
      } else {
        LOG.debug("sandbox {} ready in {} ms", id, (System.nanoTime() - t0) / 1_000_000);
      }
    } catch (Exception e) {
      if (e instanceof InterruptedException) {
        Thread.currentThread().interrupt();
      }
      long backoff;
      synchronized (lock) {
        lane.starting--;
        lane.consecutiveFailures++;
        lane.lastStartFailure = e.getMessage();
        backoff = Math.min(10_000, 50L << Math.min(8, lane.consecutiveFailures));
        lane.refillNotBefore = System.nanoTime() + backoff * 1_000_000;
      }
      LOG.warn("{} sandbox {} failed to start (retrying in {} ms): {}", nodeRuntime.name(), id, backoff, e.toString());
      if (m != null) {
        m.state = SandboxState.DRAINING;
        m.sandbox.destroy(Duration.ZERO);
      } else {
        FileTrees.deleteTree(dir);
      }
      if (!closed) {
        scheduler.schedule(this::maintain, backoff, TimeUnit.MILLISECONDS);
      }
    }
  }

  private void onExit(ManagedSandbox m, String reason) {
    SandboxState was;
    synchronized (lock) {
      was = m.state;
      m.state = SandboxState.DEAD;
      lanes.get(m.runtime).warm.remove(m);
      unbind(m);
      all.remove(m.id);
    }
    if (was == SandboxState.ASSIGNED || was == SandboxState.WARM) {
      LOG.warn("sandbox {} of container {} ended unexpectedly: {}", m.id, m.container, reason);
      listener.sandboxEnded(m.id, reason);
    }
    socketGone.accept(m.sandbox.spec().socket());
    // A sandbox that ended by itself still holds what the runtime made for it (container, task,
    // shim, mounts, output follower): release it like any other, off the caller's thread.
    try {
      reaper.execute(() -> {
        try {
          m.sandbox.destroy(Duration.ZERO);
        } catch (RuntimeException e) {
          LOG.warn("releasing ended sandbox {} failed: {}", m.id, e.toString());
        } finally {
          FileTrees.deleteTree(m.sandbox.spec().directory());
        }
      });
    } catch (java.util.concurrent.RejectedExecutionException shuttingDown) {
      m.sandbox.destroy(Duration.ZERO);
      FileTrees.deleteTree(m.sandbox.spec().directory());
    }
    if (!closed) {
      scheduler.execute(this::maintain);
    }
  }

  private static final java.security.SecureRandom RANDOM = new java.security.SecureRandom();

  /**
   * An opaque random sandbox id: it appears in host paths a sandbox can see (its own mount
   * table), so it must not let one sandbox name another.
   */
  static String newSandboxId() {
    byte[] b = new byte[12];
    RANDOM.nextBytes(b);
    return "s" + java.util.HexFormat.of().formatHex(b);
  }

  // ---- Pool -----------------------------------------------------------------------------

  @Override
  public PoolStats stats() {
    synchronized (lock) {
      PoolPolicy.Counts c = counts();
      return new PoolStats(target, c.warm(), c.starting(), c.assigned(), maxSandboxes, c.waiting());
    }
  }

  @Override
  public Map<String, Integer> warmByRuntime() {
    synchronized (lock) {
      Map<String, Integer> out = new java.util.LinkedHashMap<>();
      lanes.forEach((name, lane) -> out.put(name, lane.warm.size()));
      return out;
    }
  }

  @Override
  public Map<String, Integer> targetByRuntime() {
    synchronized (lock) {
      decayDemand(System.nanoTime());
      return targets();
    }
  }

  private String statsLine() {
    PoolStats s = stats();
    return "warm=" + s.warm() + ", starting=" + s.starting() + ", assigned=" + s.assigned() + ", max="
        + s.maxSandboxes() + ", waiting=" + s.waiting();
  }

  @Override
  public void setTargetWarm(int target) {
    if (target < 0 || target > maxSandboxes) {
      throw new IllegalArgumentException("target must be 0.." + maxSandboxes + ", was " + target);
    }
    this.target = target;
    scheduler.execute(this::maintain);
  }

  @Override
  public boolean awaitWarm(Duration timeout) throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (System.nanoTime() < deadline) {
      synchronized (lock) {
        int warm = 0;
        for (Lane l : lanes.values()) {
          warm += l.warm.size();
        }
        if (warm >= target) {
          return true;
        }
      }
      Thread.sleep(5);
    }
    return false;
  }

  /** Problems for readiness checks, or null. */
  public String problem() {
    String p = runtime.problem();
    if (p != null) {
      return p;
    }
    synchronized (lock) {
      for (Lane l : lanes.values()) {
        if (l.consecutiveFailures >= 3) {
          return l.runtime.name() + " sandboxes fail to start: " + l.lastStartFailure;
        }
      }
    }
    return null;
  }

  /** Every live sandbox (for diagnostics and tests). */
  public List<ManagedSandbox> sandboxes() {
    return List.copyOf(all.values());
  }

  @Override
  public void close() {
    List<ManagedSandbox> live;
    synchronized (lock) {
      closed = true;
      for (Lane l : lanes.values()) {
        for (Iterator<Waiter> it = l.waiters.iterator(); it.hasNext(); ) {
          it.next().future.completeExceptionally(new UnavailableException("the platform is shutting down"));
          it.remove();
        }
        l.warm.clear();
      }
      live = new ArrayList<>(all.values());
      for (ManagedSandbox m : live) {
        m.state = SandboxState.DRAINING;
      }
      byContainer.clear();
    }
    scheduler.shutdownNow();
    starter.shutdown();
    List<CompletableFuture<Void>> stops = new ArrayList<>();
    for (ManagedSandbox m : live) {
      stops.add(CompletableFuture.runAsync(() -> m.sandbox.destroy(Duration.ofSeconds(2)), reaper));
    }
    try {
      CompletableFuture.allOf(stops.toArray(CompletableFuture[]::new)).get(30, TimeUnit.SECONDS);
      starter.awaitTermination(10, TimeUnit.SECONDS);
    } catch (Exception e) {
      LOG.warn("sandboxes did not all stop in time: {}", e.toString());
    }
    reaper.shutdown();
    FileTrees.deleteTree(sandboxesDir);
  }
}
