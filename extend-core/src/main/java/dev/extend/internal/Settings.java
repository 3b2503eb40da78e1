package dev.extend.internal;

import dev.extend.NodeRuntime;
import java.net.URI;
import dev.extend.EgressPolicy;
import dev.extend.Limits;
import dev.extend.LogListener;
import dev.extend.spi.ArtifactStore;
import dev.extend.spi.BuildQueue;
import dev.extend.spi.EgressStore;
import dev.extend.spi.FunctionStore;
import dev.extend.spi.ModuleBuilder;
import dev.extend.spi.ModuleStore;
import dev.extend.spi.PlatformListener;
import dev.extend.spi.SandboxLimits;
import dev.extend.spi.SandboxRuntime;
import dev.extend.spi.Storage;
import dev.extend.spi.TokenStore;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;

/**
 * The sealed configuration of a platform. Components left null are chosen by the engine
 * (ServiceLoader, else embedded defaults).
 */
public record Settings(
    Path dataDir,
    String nodeId,
    FunctionStore functionStore,
    ArtifactStore artifactStore,
    ModuleStore moduleStore,
    BuildQueue buildQueue,
    TokenStore tokenStore,
    EgressStore egressStore,
    SandboxRuntime runtime,
    ModuleBuilder moduleBuilder,
    int buildWorkers,
    List<NodeRuntime> runtimes,
    String defaultRuntime,
    Path runtimesDir,
    Path runtimeTarballs,
    URI npmRegistry,
    int poolSize,
    int maxSandboxes,
    Duration idleTimeout,
    Duration sandboxWaitTimeout,
    SandboxLimits sandboxLimits,
    Limits defaultLimits,
    Limits maxLimits,
    int maxCodeBytes,
    int maxDependencies,
    int maxSecrets,
    int maxSecretBytes,
    int maxMeta,
    int maxMetaBytes,
    long maxRequestBodyBytes,
    Duration metadataRefresh,
    EgressPolicy egress,
    Duration egressRefresh,
    int logReplayLines,
    int maxHostModules,
    int maxInFlightPerContainer,
    int maxInvocationThreads,
    int maxWebhooksPerContainer,
    int maxQueuedBuildsPerContainer,
    List<LogListener> logListeners,
    PlatformListener listener,
    Map<String, Set<String>> privateScopes,
    Storage storage) {

  /** The builder's working copy; {@link #seal()} validates it. */
  public static final class Mutable {
    public Path dataDir = Path.of("extend-data");
    public String nodeId;
    public FunctionStore functionStore;
    public ArtifactStore artifactStore;
    public ModuleStore moduleStore;
    public BuildQueue buildQueue;
    public TokenStore tokenStore;
    public EgressStore egressStore;
    /** The stores not given one by one come from it. */
    public Storage storage;
    public SandboxRuntime runtime;
    public ModuleBuilder moduleBuilder;
    public int buildWorkers = 1;
    /** Name -> runtime, in the order given: the built-in ones unless replaced. */
    public final Map<String, NodeRuntime> runtimes = new LinkedHashMap<>();
    public String defaultRuntime = NodeRuntime.DEFAULT;
    /** Where verified distributions live; null: system property extend.runtimesDir, else dataDir/runtimes. */
    public Path runtimesDir;
    /** A directory of the registry's tarballs to use instead of the registry (air-gapped hosts), or null. */
    public Path runtimeTarballs;
    /** The npm registry runtimes come from; null: npm's default. */
    public URI npmRegistry;

    {
      NodeRuntime.BUILT_IN.forEach(r -> runtimes.put(r.name(), r));
    }
    public int poolSize = 2;
    public int maxSandboxes = 64;
    public Duration idleTimeout = Duration.ofMinutes(10);
    public Duration sandboxWaitTimeout = Duration.ofSeconds(10);
    public SandboxLimits sandboxLimits = new SandboxLimits(256, 1000, 128, 64);
    public Limits defaultLimits = new Limits(Duration.ofSeconds(30), 256);
    public Limits maxLimits = new Limits(Duration.ofMinutes(5), 1024);
    public int maxCodeBytes = 1 << 20;
    public int maxDependencies = 64;
    public int maxSecrets = 64;
    public int maxSecretBytes = 4096;
    public int maxMeta = 64;
    public int maxMetaBytes = 4096;
    public long maxRequestBodyBytes = 6L << 20;
    public Duration metadataRefresh = Duration.ofSeconds(1);
    /** The default mode, and the entries every container's policy gets. */
    public EgressPolicy egress = EgressPolicy.PUBLIC;
    public Duration egressRefresh = Duration.ofSeconds(1);
    public int logReplayLines = 200;
    public int maxHostModules = 1000;
    public int maxInFlightPerContainer = 200;
    public int maxInvocationThreads = 256;
    public int maxWebhooksPerContainer = 1000;
    public int maxQueuedBuildsPerContainer = 64;
    public final List<LogListener> logListeners = new ArrayList<>();
    public PlatformListener listener = PlatformListener.NONE;
    /** Private scope (without '@') -> the containers granted it. */
    public final Map<String, Set<String>> privateScopes = new LinkedHashMap<>();

    /** Validates every setting and returns the sealed settings. */
    public Settings seal() {
      require(dataDir != null, "dataDir must be set");
      require(nodeId == null || nodeId.matches(NodeIds.PATTERN),
          "nodeId must be 1-48 letters, digits, '.', '_' or '-', was '" + nodeId + "'");
      require(buildWorkers >= 0 && buildWorkers <= 16, "buildWorkers must be 0..16, was " + buildWorkers);
      require(maxSandboxes >= 1, "maxSandboxes cannot be less than 1, was " + maxSandboxes);
      require(poolSize >= 0 && poolSize <= maxSandboxes,
          "poolSize must be 0..maxSandboxes (" + maxSandboxes + "), was " + poolSize);
      positive(idleTimeout, "idleTimeout");
      positive(sandboxWaitTimeout, "sandboxWaitTimeout");
      positive(metadataRefresh, "metadataRefresh");
      require(egress != null, "egress must be set (EgressPolicy.PUBLIC is the default)");
      positive(egressRefresh, "egressRefresh");
      require(defaultLimits.timeout().compareTo(maxLimits.timeout()) <= 0,
          "defaultLimits.timeout (" + defaultLimits.timeout() + ") exceeds maxLimits.timeout (" + maxLimits.timeout() + ")");
      require(defaultLimits.memoryMb() <= maxLimits.memoryMb(),
          "defaultLimits.memoryMb (" + defaultLimits.memoryMb() + ") exceeds maxLimits.memoryMb (" + maxLimits.memoryMb() + ")");
      require(maxCodeBytes >= 1024, "maxCodeBytes cannot be less than 1024, was " + maxCodeBytes);
      require(maxDependencies >= 0, "maxDependencies cannot be negative");
      require(maxSecrets >= 0 && maxSecretBytes >= 1, "maxSecrets/maxSecretBytes out of range");
      require(maxMeta >= 0 && maxMetaBytes >= 1, "maxMeta/maxMetaBytes out of range");
      require(maxRequestBodyBytes >= 1024, "maxRequestBodyBytes cannot be less than 1024, was " + maxRequestBodyBytes);
      require(logReplayLines >= 0 && logReplayLines <= 100_000, "logReplayLines must be 0..100000");
      require(maxHostModules >= 1, "maxHostModules cannot be less than 1, was " + maxHostModules);
      require(maxInFlightPerContainer >= 1, "maxInFlightPerContainer cannot be less than 1, was " + maxInFlightPerContainer);
      require(maxInvocationThreads >= 2, "maxInvocationThreads cannot be less than 2, was " + maxInvocationThreads);
      require(maxWebhooksPerContainer >= 1, "maxWebhooksPerContainer cannot be less than 1, was " + maxWebhooksPerContainer);
      require(maxQueuedBuildsPerContainer >= Math.max(1, maxDependencies), "maxQueuedBuildsPerContainer ("
          + maxQueuedBuildsPerContainer + ") cannot be less than maxDependencies (" + maxDependencies + ")");
      require(!runtimes.isEmpty(), "at least one runtime must be configured");
      NodeRuntime def = runtimes.get(defaultRuntime);
      require(def != null, "defaultRuntime '" + defaultRuntime + "' is not one of the runtimes " + runtimes.keySet());
      require(def.state() != NodeRuntime.State.RETIRED, "defaultRuntime '" + defaultRuntime + "' is retired");
      Path data = dataDir.toAbsolutePath().normalize();
      String sysDir = System.getProperty("extend.runtimesDir");
      Path rtDir = runtimesDir != null ? runtimesDir
          : sysDir != null && !sysDir.isBlank() ? Path.of(sysDir) : data.resolve("runtimes");
      // Only once every setting holds: a configuration refused leaves nothing on disk.
      String node = nodeId != null ? nodeId : NodeIds.stored(dataDir);
      return new Settings(data, node, functionStore, artifactStore, moduleStore,
          buildQueue, tokenStore, egressStore, runtime, moduleBuilder, buildWorkers, List.copyOf(runtimes.values()),
          defaultRuntime, rtDir.toAbsolutePath().normalize(),
          runtimeTarballs == null ? null : runtimeTarballs.toAbsolutePath().normalize(), npmRegistry, poolSize,
          maxSandboxes, idleTimeout, sandboxWaitTimeout, sandboxLimits, defaultLimits, maxLimits,
          maxCodeBytes, maxDependencies, maxSecrets, maxSecretBytes, maxMeta, maxMetaBytes,
          maxRequestBodyBytes, metadataRefresh, egress, egressRefresh, logReplayLines, maxHostModules, maxInFlightPerContainer,
          maxInvocationThreads, maxWebhooksPerContainer, maxQueuedBuildsPerContainer, List.copyOf(logListeners),
          listener, copyScopes(privateScopes), storage);
    }

    private static Map<String, Set<String>> copyScopes(Map<String, Set<String>> scopes) {
      Map<String, Set<String>> out = new LinkedHashMap<>();
      scopes.forEach((k, v) -> out.put(k, Set.copyOf(v)));
      return Map.copyOf(out);
    }

    private static void require(boolean ok, String message) {
      if (!ok) {
        throw new IllegalStateException(message);
      }
    }

    private static void positive(Duration d, String name) {
      require(d != null && !d.isNegative() && !d.isZero(), name + " must be positive, was " + d);
    }
  }

  /**
   * Why a container may not depend on {@code module}, or null: a package of a private scope
   * needs a grant of that scope to the container.
   */
  public String scopeRefusal(String container, String module) {
    if (!module.startsWith("@") || module.indexOf('/') < 0) {
      return null;
    }
    String scope = module.substring(1, module.indexOf('/')).toLowerCase(java.util.Locale.ROOT);
    Set<String> granted = privateScopes.get(scope);
    if (granted == null || granted.contains(container)) {
      return null;
    }
    return "the private scope @" + scope + " is not granted to container " + container;
  }

  static String defaultNodeId() {
    String host;
    try {
      host = InetAddress.getLocalHost().getHostName().replaceAll("[^A-Za-z0-9._-]", "-");
    } catch (Exception e) {
      host = "node";
    }
    if (host.isEmpty() || !Character.isLetterOrDigit(host.charAt(0))) {
      host = "node" + host;
    }
    if (host.length() > 36) {
      host = host.substring(0, 36);
    }
    return host + "-" + UUID.randomUUID().toString().substring(0, 8);
  }
}
