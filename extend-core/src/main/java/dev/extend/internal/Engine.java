package dev.extend.internal;

import dev.extend.internal.runtime.NodeDistributions;
import dev.extend.internal.runtime.Runtimes;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.extend.ContainerName;
import dev.extend.ExtendException;
import dev.extend.InvocationRequest;
import dev.extend.InvocationResponse;
import dev.extend.LogEvent;
import dev.extend.Pool;
import dev.extend.WebhookRef;
import dev.extend.internal.modules.BuildWorker;
import dev.extend.internal.modules.HostModuleStore;
import dev.extend.internal.modules.ModuleService;
import dev.extend.internal.sandbox.AgentClient;
import dev.extend.internal.sandbox.AgentHttp;
import dev.extend.internal.sandbox.AgentLoop;
import dev.extend.internal.sandbox.ManagedSandbox;
import dev.extend.internal.sandbox.SandboxManager;
import dev.extend.spi.ArtifactStore;
import dev.extend.spi.BuildQueue;
import dev.extend.spi.EgressStore;
import dev.extend.spi.FunctionStore;
import dev.extend.spi.ModuleBuilder;
import dev.extend.spi.ModuleStore;
import dev.extend.spi.SandboxRuntime;
import dev.extend.spi.SandboxRuntimeProvider;
import dev.extend.spi.TokenStore;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.ServiceLoader;
import java.util.concurrent.CompletableFuture;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Wires the platform's parts together from sealed settings and owns their lifecycle. */
public final class Engine implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(Engine.class);
  private static final ObjectMapper JSON = new ObjectMapper();
  /** Agent files shipped as resources, copied to the data dir for sandboxes to mount. */
  private static final List<String> AGENT_FILES = List.of("agent.js", "peer-resolve.js");

  private final Settings settings;
  private final FunctionStore functions;
  private final ArtifactStore artifacts;
  private final ModuleStore moduleRecords;
  private final BuildQueue queue;
  private final TokenStore tokenStore;
  private final EgressStore egressStore;
  /** Where stores not given one by one came from, closed with them; null when none. */
  private final dev.extend.spi.Storage storage;
  private final SandboxRuntime runtime;
  private final Runtimes runtimes;
  private final ExecutorService executor;
  private final ExecutorService invocations;
  private final Admission admission;
  private final AgentClient agents;
  private final AgentHttp http;
  private final AgentLoop loop;
  private final LogHub logs;
  private final MetadataCache metadata;
  private final ModuleService modules;
  private final WebhookService webhooks;
  private final TokenService tokens;
  private final HostModuleStore hostModules;
  private final SandboxManager sandboxes;
  private final BuildWorker buildWorker;
  private final Invoker invoker;
  private final ScheduledExecutorService housekeeping;
  private final EgressService egress;
  private final ScheduledExecutorService egressRefresh;

  private Engine(Settings s, Discovery.Stores stores) throws IOException {
    this.settings = s;
    this.functions = stores.functions();
    this.artifacts = stores.artifacts();
    this.moduleRecords = stores.modules();
    this.queue = stores.queue();
    this.tokenStore = stores.tokens();
    this.egressStore = stores.egress();
    this.storage = stores.storage();
    this.runtimes = new Runtimes(s.runtimes(), s.defaultRuntime(),
        new NodeDistributions(s.runtimesDir(), s.npmRegistry(), s.runtimeTarballs()));
    this.runtime = chooseRuntime(s);
    ModuleBuilder builder = Discovery.moduleBuilder(s, runtime);
    if (builder != null && s.buildWorkers() > 0 && runtime.isolating() && !builder.isolating()) {
      // Install scripts are tenants' code as much as webhooks are.
      throw new IllegalStateException("the sandbox runtime '" + runtime.name() + "' isolates tenants, but the module"
          + " builder " + builder.getClass().getSimpleName() + " would run install scripts without isolation:"
          + " leave its job runner unset (builds then run in the runtime's build sandboxes) or give it an"
          + " isolating one; JobRunner.localProcesses() goes only with the development runtime");
    }
    AtomicLong n = new AtomicLong();
    this.executor = Executors.newCachedThreadPool(r -> {
      Thread t = new Thread(r, "extend-worker-" + n.incrementAndGet());
      t.setDaemon(true);
      return t;
    });
    AtomicLong m = new AtomicLong();
    // Bounded: a flood of slow calls gets 503 at once instead of a thread each.
    this.invocations = new java.util.concurrent.ThreadPoolExecutor(0, s.maxInvocationThreads(), 30,
        java.util.concurrent.TimeUnit.SECONDS, new java.util.concurrent.SynchronousQueue<>(), r -> {
          Thread t = new Thread(r, "extend-invocation-" + m.incrementAndGet());
          t.setDaemon(true);
          return t;
        });
    this.admission = new Admission(s.maxInFlightPerContainer());
    this.http = new AgentHttp();
    this.loop = new AgentLoop("extend-agent-io");
    this.agents = new AgentClient(http);
    this.logs = new LogHub(s.logReplayLines(), s.logListeners());
    this.metadata = new MetadataCache(functions, s.metadataRefresh(), executor, this::webhookGone);
    this.modules = new ModuleService(moduleRecords, queue);
    this.webhooks = new WebhookService(s, functions, modules, metadata, runtimes);
    this.tokens = new TokenService(tokenStore);
    this.hostModules = new HostModuleStore(s.dataDir().resolve("modules"), artifacts);
    this.egress = new EgressService(egressStore, s.egress(), runtime.enforcesEgress(), logs, s.egressRefresh());
    runtime.egressListener(egress);
    Path agentDir = installAgent(s.dataDir());
    runtime.recover();
    this.sandboxes = new SandboxManager(runtime, runtimes, agents, s.nodeId(), s.dataDir(), agentDir, hostModules.root(),
        s.sandboxLimits(), s.poolSize(), s.maxSandboxes(), s.idleTimeout(), s.sandboxWaitTimeout(), s.listener(),
        this::onSandboxOutput, socket -> {
          http.forget(socket);
          loop.forget(socket);
        });
    egress.attach(sandboxes);
    this.sandboxes.start();
    if (builder != null && s.buildWorkers() > 0) {
      this.buildWorker = new BuildWorker(queue, moduleRecords, artifacts, builder, runtimes, s.nodeId(),
          s.dataDir().resolve("builds"), 512L << 20).start(s.buildWorkers());
      LOG.info("module builds: {} in-process worker(s) with {}{}", s.buildWorkers(),
          builder.getClass().getSimpleName(), builder.isolating() ? "" : " (install scripts NOT ISOLATED)");
    } else {
      this.buildWorker = null;
      if (stores.queueInMemory()) {
        // Nothing will ever build: a standalone worker cannot reach this process's memory.
        LOG.warn("module builds: NONE. {}, and the build queue is in this process's memory, where no standalone"
            + " worker reaches it: webhooks with dependencies stay unrunnable, their modules queued. Put"
            + " extend-modulebuild on the class path, or give .moduleBuilder(...) and buildWorkers >= 1",
            s.buildWorkers() == 0 ? "buildWorkers is 0" : "No module builder was given or found by ServiceLoader");
      } else {
        LOG.info("module builds: no in-process worker; builds wait for a standalone worker on the shared queue");
      }
    }
    this.invoker = new Invoker(metadata, modules, hostModules, sandboxes, agents, http, loop, s.listener(),
        s.sandboxLimits(), admission, egress, runtimes);
    this.housekeeping = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "extend-housekeeping");
      t.setDaemon(true);
      return t;
    });
    housekeeping.scheduleWithFixedDelay(this::collectModules, 60, 60, TimeUnit.SECONDS);
    if (egress.enforcing()) {
      // A thread of its own: module clean-up on housekeeping must not delay a policy change.
      this.egressRefresh = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "extend-egress");
        t.setDaemon(true);
        return t;
      });
      long every = s.egressRefresh().toMillis();
      egressRefresh.scheduleWithFixedDelay(this::refreshEgress, every, every, TimeUnit.MILLISECONDS);
    } else {
      this.egressRefresh = null;
      warnEgressNotEnforced(runtime);
    }
    LOG.info("Extend node {} started: runtime {}, data dir {}, pool {} warm / {} max, egress {}{}, Node.js runtimes {}"
        + " (default {}, distributions in {})", s.nodeId(), runtime.name(), s.dataDir(), s.poolSize(), s.maxSandboxes(),
        describeEgress(s.egress()), egress.enforcing() ? "" : " (NOT ENFORCED)", describeRuntimes(runtimes),
        runtimes.defaultRuntime().name(), runtimes.distributions());
  }

  /** Starts an engine. */
  public static Engine start(Settings settings) {
    try {
      Files.createDirectories(settings.dataDir());
      FileTrees.closeToOthers(settings.dataDir());
    } catch (IOException e) {
      throw new UncheckedIOException("cannot start the platform: " + e.getMessage(), e);
    }
    Discovery.Stores stores = Discovery.stores(settings);
    try {
      return new Engine(settings, stores);
    } catch (IOException e) {
      stores.closeOpened();
      throw new UncheckedIOException("cannot start the platform: " + e.getMessage(), e);
    } catch (RuntimeException | Error e) {
      stores.closeOpened();
      throw e;
    }
  }

  /** Why a platform without an isolating runtime does not start, and what to do. */
  static final String NO_ISOLATION = "no isolating sandbox runtime is usable, and tenants' code never runs"
      + " without isolation unless the development runtime is chosen by name. Install and start containerd"
      + " (Debian: apt-get install containerd runc, then start containerd; set EXTEND_CONTAINERD_SOCKET when its"
      + " socket is not /run/containerd/containerd.sock) and put extend-runtime-containerd on the class path,"
      + " or pass .sandboxRuntime(SandboxRuntime.localProcesses()) for development (NOT ISOLATING); the log"
      + " above says why each runtime found is not usable";

  private static SandboxRuntime chooseRuntime(Settings s) {
    SandboxRuntime chosen = s.runtime();
    String how = "configured";
    if (chosen == null) {
      List<SandboxRuntimeProvider> providers = new ArrayList<>();
      ServiceLoader.load(SandboxRuntimeProvider.class).forEach(providers::add);
      providers.sort(Comparator.comparingInt(SandboxRuntimeProvider::priority).reversed());
      var ctx = new SandboxRuntimeProvider.Context(s.nodeId(), s.dataDir());
      for (SandboxRuntimeProvider p : providers) {
        Optional<SandboxRuntime> r = p.create(ctx);
        if (r.isPresent()) {
          chosen = r.get();
          how = "found by ServiceLoader (" + p.getClass().getName() + ")";
          break;
        }
      }
    }
    if (chosen == null) {
      // Fail closed: tenants' code never runs as host processes unless the operator named the
      // development runtime.
      throw new IllegalStateException(NO_ISOLATION);
    }
    LOG.info("sandbox runtime: {} ({})", chosen.name(), how);
    if (!chosen.isolating()) {
      LOG.warn("""

          ************************************************************************
          *  NOT ISOLATING: sandbox runtime '{}' does not isolate tenants.
          *  Webhook code runs as plain processes of this host, with this user's
          *  rights. Use it for development only; use containerd in production.
          ************************************************************************""", chosen.name());
    }
    return chosen;
  }

  static String describeRuntimes(Runtimes r) {
    List<String> out = new ArrayList<>();
    for (dev.extend.NodeRuntime n : r.all()) {
      out.add(n.name() + "=" + n.nodeVersion() + (n.state() == dev.extend.NodeRuntime.State.CURRENT ? "" : " (" + n.state().json() + ")"));
    }
    return String.join(", ", out);
  }

  /** The platform's egress setting for logs, e.g. {@code public + 2 entries for every container}. */
  static String describeEgress(dev.extend.EgressPolicy p) {
    if (p.allow().isEmpty() || p.mode() == dev.extend.EgressPolicy.Mode.NONE) {
      return p.mode().wireName();
    }
    return p.mode().wireName() + " + " + p.allow().size() + " entr" + (p.allow().size() == 1 ? "y" : "ies")
        + " for every container";
  }

  private static void warnEgressNotEnforced(SandboxRuntime runtime) {
    if (!runtime.isolating()) {
      LOG.warn("EGRESS NOT ENFORCED: sandbox runtime '{}' gives sandboxes the host's network; egress policies"
          + " are stored and shown, but not applied", runtime.name());
    } else {
      LOG.info("egress: sandbox runtime '{}' does not enforce egress policies (sandboxes have no network beyond"
          + " loopback); policies are stored and shown, but not applied", runtime.name());
    }
  }

  private void refreshEgress() {
    try {
      egress.refresh();
    } catch (RuntimeException e) {
      LOG.warn("egress re-validation failed: {}", e.toString());
    }
  }

  /** Copies the agent's files into a content-addressed directory of the data dir. */
  private static Path installAgent(Path dataDir) throws IOException {
    List<byte[]> files = new ArrayList<>();
    MessageDigest sha;
    try {
      sha = MessageDigest.getInstance("SHA-256");
    } catch (java.security.NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
    for (String f : AGENT_FILES) {
      try (InputStream in = Engine.class.getResourceAsStream("/dev/extend/agent/" + f)) {
        byte[] b = in == null ? null : in.readAllBytes();
        files.add(b);
        if (b != null) {
          sha.update(f.getBytes(java.nio.charset.StandardCharsets.UTF_8));
          sha.update(b);
        }
      }
    }
    if (files.get(0) == null) {
      throw new IOException("the sandbox agent resource is missing from the classpath");
    }
    Path dir = dataDir.resolve("agent").resolve(HexFormat.of().formatHex(sha.digest()).substring(0, 16));
    if (!Files.isDirectory(dir)) {
      Path tmp = Files.createDirectories(dataDir.resolve("agent").resolve(".tmp-" + System.nanoTime()));
      for (int i = 0; i < AGENT_FILES.size(); i++) {
        if (files.get(i) != null) {
          Files.write(tmp.resolve(AGENT_FILES.get(i)), files.get(i));
        }
      }
      try {
        Files.move(tmp, dir, StandardCopyOption.ATOMIC_MOVE);
      } catch (IOException e) {
        if (!Files.isDirectory(dir)) {
          throw e;
        }
      }
    }
    return dir;
  }

  /** Removes least recently used modules beyond the host's budget that no sandbox links. */
  void collectModules() {
    try {
      Set<String> inUse = new HashSet<>();
      for (ManagedSandbox m : sandboxes.sandboxes()) {
        m.modulesInUse().forEach(r -> inUse.add(r.storeKey()));
      }
      List<String> removed = hostModules.collect(inUse, settings.maxHostModules());
      if (!removed.isEmpty()) {
        LOG.info("removed {} unused modules from this host's store: {}", removed.size(), removed);
      }
    } catch (IOException | RuntimeException e) {
      LOG.warn("module store clean-up failed: {}", e.toString());
    }
  }

  private static final java.util.Set<String> LEVELS = java.util.Set.of("log", "info", "warn", "error", "debug");

  private void onSandboxOutput(ManagedSandbox m, String line) {
    ContainerName c = m.container();
    JsonNode j = null;
    if (line.startsWith("{")) {
      try {
        j = JSON.readTree(line);
      } catch (IOException e) {
        j = null;
      }
    }
    if (c == null) {
      LOG.debug("sandbox {}: {}", m.id(), line);
      return;
    }
    // Everything in the line is the sandbox's word: the attribution is taken only when it names
    // an invocation the host sent to this sandbox, for that webhook; time and level are ours.
    LogEvent e = null;
    if (j != null && j.has("m") && j.hasNonNull("i") && j.hasNonNull("w")) {
      String invocation = j.get("i").asText();
      dev.extend.WebhookName webhook = m.attribution(invocation);
      if (webhook != null && webhook.value().equals(j.get("w").asText())) {
        String level = j.path("l").asText("log");
        e = new LogEvent(Instant.now(), c, webhook.value(), invocation, LEVELS.contains(level) ? level : "log",
            j.get("m").asText());
      }
    }
    if (e == null) {
      e = j != null && j.has("m") && !j.hasNonNull("i")
          ? new LogEvent(Instant.now(), c, null, null, "log", j.get("m").asText())
          : new LogEvent(Instant.now(), c, null, null, "stdout", line);
    }
    logs.publish(e);
  }

  // ---- deletion of webhooks and containers -----------------------------------------------

  /**
   * A webhook this node served was deleted or replaced (through this node, or noticed by the
   * metadata cache): its container's sandbox here is retired, so nothing of its code survives.
   */
  private void webhookGone(WebhookRef ref) {
    // the cache is built before the sandboxes; nothing is served until both exist
    if (sandboxes == null || housekeeping == null) {
      return;
    }
    sandboxes.retire(ref.container(), "webhook " + ref + " was deleted or replaced");
    // A call that resolved the old webhook just before may still take a sandbox for the
    // container after this retirement and load the old code into it, marked with a version
    // number the new webhook may have too. Such a call gets its sandbox within the sandbox wait
    // timeout, so retiring once more after that leaves nothing of the old code behind.
    long settle = settings.sandboxWaitTimeout().toMillis() + 2 * settings.metadataRefresh().toMillis();
    try {
      housekeeping.schedule(() -> sandboxes.retire(ref.container(), "webhook " + ref + " was deleted or replaced"),
          settle, TimeUnit.MILLISECONDS);
    } catch (java.util.concurrent.RejectedExecutionException closing) {
      // the platform is closing: every sandbox goes anyway
    }
  }

  /**
   * Deletes a container: revokes the tokens that grant it (first, so its tenant cannot add to
   * it meanwhile), deletes its webhooks and its egress policy, retires its sandbox on this node,
   * and drops its log replay and subscriptions.
   */
  public void deleteContainer(ContainerName container) {
    List<String> revoked = tokens.revokeGranting(container);
    int deleted = 0;
    String cursor = null;
    do {
      dev.extend.Page<dev.extend.Webhook> page = webhooks.list(container, 1000, cursor);
      for (dev.extend.Webhook w : page.items()) {
        if (webhooks.delete(w.ref(), java.util.OptionalLong.empty())) {
          deleted++;
        }
      }
      cursor = page.nextCursor();
    } while (cursor != null);
    egress.forget(container);
    sandboxes.retire(container, "container deleted");
    logs.forget(container);
    LOG.info("container {} deleted: {} webhook(s), {} token(s) revoked", container, deleted, revoked.size());
  }

  // ---- API -----------------------------------------------------------------------------

  /** Sealed settings. */
  public Settings settings() {
    return settings;
  }

  /** Webhook management. */
  public WebhookService webhooks() {
    return webhooks;
  }

  /** The platform's Node.js runtimes. */
  public Runtimes runtimes() {
    return runtimes;
  }

  /** Module states. */
  public ModuleService modules() {
    return modules;
  }

  /** Egress policies. */
  public EgressService egress() {
    return egress;
  }

  /** Whether the sandbox runtime enforces egress policies. */
  public boolean enforcesEgress() {
    return egress.enforcing();
  }

  /** The runtime's per-container egress counters on this node. */
  public java.util.Map<ContainerName, dev.extend.EgressCounters> egressCounters() {
    return runtime.egressCounters();
  }

  /** Tokens. */
  public TokenService tokens() {
    return tokens;
  }

  /** Logs. */
  public LogHub logs() {
    return logs;
  }

  /** The pool. */
  public Pool pool() {
    return sandboxes;
  }

  /** The sandbox manager (diagnostics and tests). */
  public SandboxManager sandboxes() {
    return sandboxes;
  }

  /** Sets a container's own limit of invocations in flight on this node; 0 returns it to the platform's. */
  public void setMaxInFlight(dev.extend.ContainerName container, int limit) {
    admission.setLimit(container, limit);
  }

  /** Whether the sandbox runtime isolates tenants. */
  public boolean isolating() {
    return runtime.isolating();
  }

  /** The runtime's name. */
  public String runtimeName() {
    return runtime.name();
  }

  /** Invokes on the caller's thread and returns at the response head. */
  public InvocationResponse invoke(WebhookRef ref, InvocationRequest request) {
    return invoker.invoke(ref, request);
  }

  /**
   * Invokes without blocking the caller; the future completes through {@code completion}, or
   * on the platform's executor when that is null.
   */
  public CompletableFuture<InvocationResponse> invokeAsync(WebhookRef ref, InvocationRequest request,
      Executor completion) {
    CompletableFuture<InvocationResponse> f = invoker.invokeAsync(ref, request, invocations);
    CompletableFuture<InvocationResponse> out = f.whenCompleteAsync((r, e) -> { }, completion == null ? executor : completion);
    // Cancelling what the caller holds cancels the invocation (its client went away).
    out.whenComplete((r, e) -> {
      if (out.isCancelled()) {
        f.cancel(false);
      }
    });
    return out;
  }

  /** Lets asynchronous invocations started on {@code loop}'s thread run their sandbox I/O on it. */
  public AutoCloseable attach(dev.extend.spi.EventLoop loop) {
    return this.loop.attach(loop);
  }

  /** What keeps this node from being ready; empty when ready. */
  public List<String> readinessProblems() {
    List<String> problems = new ArrayList<>();
    try {
      functions.version(WebhookRef.of("extend-health", "ping"));
    } catch (ExtendException | UncheckedIOException e) {
      problems.add("storage: " + e.getMessage());
    }
    String p = sandboxes.problem();
    if (p != null) {
      problems.add("runtime " + runtime.name() + ": " + p);
    }
    return problems;
  }

  @Override
  public void close() {
    housekeeping.shutdownNow();
    if (egressRefresh != null) {
      egressRefresh.shutdownNow();
    }
    if (buildWorker != null) {
      buildWorker.close();
    }
    sandboxes.close();
    runtime.close();
    http.close();
    loop.close();
    executor.shutdownNow();
    invocations.shutdownNow();
    for (AutoCloseable c : new AutoCloseable[] {functions, artifacts, moduleRecords, queue, tokenStore,
        egressStore, storage}) {
      try {
        if (c != null) {
          c.close();
        }
      } catch (Exception e) {
        LOG.warn("closing {} failed: {}", c.getClass().getSimpleName(), e.toString());
      }
    }
    LOG.info("Extend node {} stopped", settings.nodeId());
  }
}
