package dev.extend.modulebuild;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.extend.ModuleRef;
import dev.extend.NodeRuntime;
import dev.extend.internal.runtime.NodeDistributions;
import dev.extend.spi.JobRunner;
import dev.extend.spi.ModuleBuilder;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;

/**
 * Builds a module with {@code npm install} in the sandboxes' environment and packs the
 * resulting {@code node_modules} closure as a tar.gz.
 *
 * <p>The build runs through a {@link JobRunner}: inside a build job of the containerd runtime
 * (the sandboxes' Node, npm, hardening, no network), or as a local process with {@link
 * JobRunner#localProcesses()} (development only, not isolating). Without a job runner of its own
 * it takes the one of the platform's sandbox runtime ({@link #forRuntime}); it never falls back
 * to local processes by itself. Either way the job runs a small
 * driver script ({@code build-driver.js}, copied into the work area) that does, in essence:
 *
 * <pre>
 * npm install --no-audit --no-fund --no-package-lock --omit=dev --legacy-peer-deps
 *     --foreground-scripts --prefix WORK/prefix --cache WORK/npm-cache
 *     --registry http://127.0.0.1:PORT/ NAME@VERSION
 * </pre>
 *
 * <p>with {@code HOME}, {@code TMPDIR} and an empty npm configuration inside the work area,
 * checks {@code node_modules/NAME/package.json} (no links followed) and packs {@code
 * node_modules} into {@code out/module.tgz} with npm's own tar package, leaving out links that
 * leave the tree and anything but files, directories and links. The host never reads the tree:
 * once the job has ended it takes {@code out/module.tgz} and {@code out/result.json} only (see
 * {@code BuildOutput}).
 *
 * <p>npm reaches its registry through the driver's loopback forwarder to a registry proxy the
 * host runs for each build on a Unix socket in a read-only service directory: the proxy holds
 * the registries' credentials, answers only for package documents and the tarballs they list,
 * and refuses packages of {@link Builder#privateScopes private scopes} other than the built
 * module's own. Peer dependencies are
 * deliberately <em>not</em> installed ({@code --legacy-peer-deps}): at run time they resolve to
 * the webhook's own copy (see {@code peer-resolve.js} in the sandbox agent), so a plugin and
 * the webhook share one instance of the package the plugin plugs into.
 *
 * <pre>{@code
 * ModuleBuilder builder = NpmModuleBuilder.builder()
 *     .timeout(Duration.ofMinutes(5))
 *     .maxTarballBytes(256L << 20)
 *     .build();
 * }</pre>
 */
public final class NpmModuleBuilder implements ModuleBuilder {
  private static final ObjectMapper JSON = new ObjectMapper();
  static final String DRIVER_PATH = ".extend/build-driver.js";
  static final String JOB_PATH = ".extend/job.json";
  private static final byte[] DRIVER = driver();
  private static final Duration UPSTREAM_TIMEOUT = Duration.ofSeconds(60);

  /** Where jobs run; null until given or taken from the platform's runtime. */
  private final JobRunner runner;
  private final List<String> npmCommand;
  private final String nodeCommand;
  private final URI registry;
  private final Duration timeout;
  private final long maxTarballBytes;
  private final long maxLogBytes;
  private final Map<String, String> inherited;
  private final Map<String, String> environment;
  private final String npmrcText;
  private final Set<String> privateScopes;
  private final HttpClient http;
  private volatile Upstreams upstreams;

  private NpmModuleBuilder(Builder b) {
    this.runner = b.runner;
    this.npmCommand = b.npmCommand == null ? null : List.copyOf(b.npmCommand);
    this.nodeCommand = b.nodeCommand;
    this.registry = b.registry;
    this.timeout = b.timeout;
    this.maxTarballBytes = b.maxTarballBytes;
    this.maxLogBytes = b.maxLogBytes;
    Map<String, String> env = new LinkedHashMap<>();
    for (String name : b.inherited) {
      String value = System.getenv(name);
      if (value != null) {
        env.put(name, value);
      }
    }
    this.inherited = Map.copyOf(env);
    this.environment = Map.copyOf(b.environment);
    this.npmrcText = b.npmrc;
    this.privateScopes = Set.copyOf(b.privateScopes);
    HttpClient.Builder hb = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(15))
        .followRedirects(HttpClient.Redirect.NEVER);
    java.net.ProxySelector ps = Upstreams.proxySelector(System::getenv);
    if (ps != null) {
      hb.proxy(ps);
    }
    this.http = hb.build();
  }

  private static byte[] driver() {
    try (InputStream in = NpmModuleBuilder.class.getResourceAsStream("build-driver.js")) {
      if (in == null) {
        throw new IllegalStateException("build-driver.js is missing from the class path");
      }
      return in.readAllBytes();
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  /** The same builder running its jobs in {@code runner}. */
  private NpmModuleBuilder(NpmModuleBuilder o, JobRunner runner) {
    this.runner = runner;
    this.npmCommand = o.npmCommand;
    this.nodeCommand = o.nodeCommand;
    this.registry = o.registry;
    this.timeout = o.timeout;
    this.maxTarballBytes = o.maxTarballBytes;
    this.maxLogBytes = o.maxLogBytes;
    this.inherited = o.inherited;
    this.environment = o.environment;
    this.npmrcText = o.npmrcText;
    this.privateScopes = o.privateScopes;
    this.http = o.http;
  }

  /**
   * Without a job runner of its own, this builder with the runtime's: its build sandboxes, or
   * local processes when the runtime is the (not isolating) development runtime.
   */
  @Override
  public ModuleBuilder forRuntime(dev.extend.spi.SandboxRuntime runtime) {
    if (runner != null) {
      return this;
    }
    JobRunner theirs = runtime.jobRunner().orElse(null);
    if (theirs == null && !runtime.isolating()) {
      theirs = JobRunner.localProcesses();
    }
    return theirs == null ? this : new NpmModuleBuilder(this, theirs);
  }

  /** Whether its jobs run isolated from the host. */
  @Override
  public boolean isolating() {
    return runner != null && runner.isolating();
  }

  /** Starts a builder with defaults: no job runner yet (see {@link #forRuntime}), {@code npm}, npm's public registry, 5 minutes, 256 MiB. */
  public static Builder builder() {
    return new Builder();
  }

  /** The job runner builds run in, or null when it is to be the platform runtime's. */
  public JobRunner jobRunner() {
    return runner;
  }

  @Override
  public void build(ModuleRef module, NodeRuntime nodeRuntime, Path runtimeDir, Path workDir, Path output,
      Consumer<String> log) throws ModuleBuildException, IOException, InterruptedException {
    Objects.requireNonNull(module, "module");
    Objects.requireNonNull(nodeRuntime, "nodeRuntime");
    Objects.requireNonNull(runtimeDir, "runtimeDir");
    BoundedLog out = new BoundedLog(Objects.requireNonNull(log, "log"), maxLogBytes);
    if (runner == null) {
      // Fail closed: never run install scripts on the host unless told to.
      throw new ModuleBuildException("no job runner: give the builder one (jobRunner(...)) or use it in a platform"
          + " whose sandbox runtime runs jobs; JobRunner.localProcesses() for development (NOT ISOLATING)");
    }
    long started = System.nanoTime();
    Path serviceDir = null;
    RegistryProxy proxy = null;
    try {
      Upstreams registries = upstreams();
      serviceDir = Files.createTempDirectory("extend-registry-");
      proxy = RegistryProxy.start(serviceDir, registries, http,
          new RegistryProxy.Policy(privateScopes, scopeOf(module.name())), out, maxTarballBytes, UPSTREAM_TIMEOUT);
      JobRunner.Job probe = job(module, workDir, List.of(), Map.of(), Map.of(), serviceDir, null, out, nodeRuntime,
          runtimeDir);
      String wp = trimSlash(runner.workPath(probe));
      // The runtime's own node and npm, where the runner shows its distribution; never the host's.
      String rp = trimSlash(runner.runtimePath(probe));
      String node = nodeCommand != null ? nodeCommand : rp + "/bin/node";
      List<String> npm = npmCommand != null ? npmCommand : List.of(rp + "/bin/node", rp + "/lib/node_modules/npm/bin/npm-cli.js");
      out.accept("runtime " + nodeRuntime.name() + ": Node.js " + nodeRuntime.nodeVersion() + ", npm " + nodeRuntime.npmVersion());
      ObjectNode config = JSON.createObjectNode();
      config.put("work", wp);
      config.put("name", module.name());
      config.put("version", module.version());
      config.putPOJO("npm", npm);
      config.put("maxTarballBytes", maxTarballBytes);
      config.put("registrySocket", trimSlash(runner.servicePath(probe)) + "/" + RegistryProxy.SOCKET);
      Map<String, byte[]> inputs = Map.of(DRIVER_PATH, DRIVER, JOB_PATH, JSON.writeValueAsBytes(config));
      List<String> command = List.of(node, wp + "/" + DRIVER_PATH, wp + "/" + JOB_PATH);
      Map<String, String> env = new LinkedHashMap<>();
      boolean onHost = wp.equals(trimSlash(workDir.toAbsolutePath().toString()));
      inherited.forEach((k, v) -> {
        // A path names a host file: meaningless (or wrong) in a runner with its own file system,
        // which brings its own CA bundle.
        if (onHost || !k.equals("NODE_EXTRA_CA_CERTS")) {
          env.put(k, v);
        }
      });
      // node-gyp compiles native addons against the runtime's headers (it cannot download them).
      env.put("npm_config_nodedir", rp);
      env.putAll(environment);
      BuildOutput result = new BuildOutput(module, output, maxTarballBytes, out);
      int status;
      try {
        status = runner.run(job(module, workDir, command, env, inputs, serviceDir, result, out, nodeRuntime, runtimeDir));
      } catch (TimeoutException e) {
        out.accept("build timed out after " + timeout.toSeconds() + " s; killed");
        throw new ModuleBuildException("npm install " + module + " timed out after " + timeout.toSeconds() + " s");
      } catch (JobRunner.WorkAreaFullException e) {
        out.accept(e.getMessage());
        throw new ModuleBuildException(module + ": " + e.getMessage());
      } catch (BuildOutput.Unusable e) {
        Files.deleteIfExists(output);
        out.accept(e.getMessage());
        throw new ModuleBuildException(module + ": " + e.getMessage());
      }
      if (status != 0) {
        Files.deleteIfExists(output);
        String why = failure(status, module);
        throw new ModuleBuildException(why);
      }
      out.accept(String.format("a %d-byte tarball; build took %d ms", Files.size(output),
          (System.nanoTime() - started) / 1_000_000));
    } finally {
      if (proxy != null) {
        proxy.close();
      }
      if (serviceDir != null) {
        deleteTree(serviceDir);
      }
      out.flush();
      clear(workDir);
    }
  }

  private static String digest(String s) {
    try {
      byte[] d = java.security.MessageDigest.getInstance("SHA-256").digest(s.getBytes(java.nio.charset.StandardCharsets.UTF_8));
      return java.util.HexFormat.of().formatHex(d, 0, 4);
    } catch (java.security.NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  /** The scope of a package name, without '@', or null. */
  static String scopeOf(String name) {
    return name.startsWith("@") && name.indexOf('/') > 0 ? name.substring(1, name.indexOf('/')).toLowerCase(
        java.util.Locale.ROOT) : null;
  }

  /** The upstream registries, parsed once; npm's own default registry is asked for only when none is configured. */
  private Upstreams upstreams() throws ModuleBuildException {
    Upstreams u = upstreams;
    if (u == null) {
      try {
        u = Upstreams.parse(npmrcText, registry, System::getenv, () -> NodeDistributions.NPM_DEFAULT_REGISTRY);
      } catch (IllegalArgumentException | java.io.UncheckedIOException e) {
        throw new ModuleBuildException("the module builder's registry configuration is unusable: " + e.getMessage());
      }
      upstreams = u;
    }
    return u;
  }

  /** What a driver exit status means; fixed texts, nothing of what the job wrote. */
  private String failure(int status, ModuleRef module) {
    return switch (status) {
      case 10 -> "npm install " + module + " failed; see the build log";
      case 11 -> "npm install " + module + " produced no usable node_modules/" + module.name() + "/package.json";
      case 12 -> "npm installed another version of " + module.name() + " than " + module;
      case 13 -> module + ": module tarball exceeds the maximum size of " + maxTarballBytes + " bytes";
      case 14 -> module + ": the build's work area is full";
      default -> "the build of " + module + " failed with exit status " + status + "; see the build log";
    };
  }

  private JobRunner.Job job(ModuleRef module, Path workDir, List<String> command, Map<String, String> env,
      Map<String, byte[]> inputs, Path serviceDir, JobRunner.Collector collector, Consumer<String> out,
      NodeRuntime nodeRuntime, Path runtimeDir) {
    // Letters and digits joined by single '-' (containerd's id rule), and a digest against collisions.
    String readable = module.storeKey().replaceAll("[^A-Za-z0-9]+", "-").replaceAll("^-|-$", "");
    if (readable.length() > 40) {
      readable = readable.substring(0, 40).replaceAll("-$", "");
    }
    String id = "build-" + readable + "-" + digest(module.storeKey());
    return new JobRunner.Job(id, command, env, workDir, timeout, out, inputs, serviceDir, collector, nodeRuntime,
        runtimeDir);
  }

  /** Empties the work directory without following links (the runner may have removed it all already). */
  private static void clear(Path workDir) throws IOException {
    if (!Files.isDirectory(workDir, LinkOption.NOFOLLOW_LINKS)) {
      return;
    }
    try (var children = Files.list(workDir)) {
      for (Path c : (Iterable<Path>) children::iterator) {
        deleteTree(c);
      }
    }
  }

  private static String trimSlash(String s) {
    return s.endsWith("/") && s.length() > 1 ? s.substring(0, s.length() - 1) : s;
  }

  /** Deletes a tree without following symlinks; missing is fine. */
  static void deleteTree(Path root) throws IOException {
    if (!Files.exists(root, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
      return;
    }
    Files.walkFileTree(root, new SimpleFileVisitor<>() {
      @Override
      public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
        Files.delete(file);
        return FileVisitResult.CONTINUE;
      }

      @Override
      public FileVisitResult preVisitDirectory(Path dir, BasicFileAttributes attrs) throws IOException {
        // Install scripts may leave read-only directories behind.
        dir.toFile().setWritable(true, true);
        return FileVisitResult.CONTINUE;
      }

      @Override
      public FileVisitResult postVisitDirectory(Path dir, IOException e) throws IOException {
        if (e != null) {
          throw e;
        }
        Files.delete(dir);
        return FileVisitResult.CONTINUE;
      }
    });
  }

  /** Settings of an {@link NpmModuleBuilder}. */
  public static final class Builder {
    private JobRunner runner;
    private List<String> npmCommand;
    private String nodeCommand;
    private URI registry;
    private Duration timeout = Duration.ofMinutes(5);
    private long maxTarballBytes = 256L << 20;
    private long maxLogBytes = 48L << 10;
    private String npmrc = "";
    private final Map<String, String> environment = new LinkedHashMap<>();
    private List<String> inherited = List.of();
    private final java.util.Set<String> privateScopes = new java.util.LinkedHashSet<>();

    private Builder() {}

    /**
     * Names of variables copied from this JVM's environment into builds, when set (default:
     * none). Builds have no network: the host's registry proxy makes the upstream requests, and
     * it is the one that honours this JVM's {@code HTTPS_PROXY}, {@code HTTP_PROXY} and {@code
     * NO_PROXY}. {@code NODE_EXTRA_CA_CERTS} names a host file, so it is passed only to runners
     * that run on the host's file system.
     */
    public Builder inheritEnvironment(String... names) {
      this.inherited = List.of(names);
      return this;
    }

    /**
     * Where npm runs. Default: the job runner of the platform's sandbox runtime (see {@link
     * NpmModuleBuilder#forRuntime}); {@link JobRunner#localProcesses()} runs install scripts as
     * plain local processes (development only).
     */
    public Builder jobRunner(JobRunner runner) {
      this.runner = Objects.requireNonNull(runner, "jobRunner");
      return this;
    }

    /**
     * The npm command and leading arguments as seen inside the build environment (default: the
     * build's runtime's npm, run by its node).
     */
    public Builder npmCommand(List<String> command) {
      if (command == null || command.isEmpty()) {
        throw new IllegalArgumentException("npmCommand must name a command");
      }
      this.npmCommand = List.copyOf(command);
      return this;
    }

    /**
     * The {@code node} command as seen inside the build environment (default: the build's
     * runtime's {@code bin/node}); it runs the build driver, which runs npm.
     */
    public Builder nodeCommand(String command) {
      if (command == null || command.isBlank()) {
        throw new IllegalArgumentException("nodeCommand must name a command");
      }
      this.nodeCommand = command;
      return this;
    }

    /** The npm registry to install from (default: npm's public registry). */
    public Builder registry(URI registry) {
      Objects.requireNonNull(registry, "registry");
      if (!"http".equals(registry.getScheme()) && !"https".equals(registry.getScheme())) {
        throw new IllegalArgumentException("registry must be an http or https URL, was " + registry);
      }
      String s = registry.toString();
      this.registry = URI.create(s.endsWith("/") ? s : s + "/");
      return this;
    }

    /** The longest one build may take, install and packing (default 5 minutes). */
    public Builder timeout(Duration timeout) {
      if (timeout == null || timeout.isNegative() || timeout.isZero()) {
        throw new IllegalArgumentException("timeout must be positive, was " + timeout);
      }
      this.timeout = timeout;
      return this;
    }

    /** The largest tarball a build may produce, in bytes (default 256 MiB). */
    public Builder maxTarballBytes(long bytes) {
      if (bytes < 1024) {
        throw new IllegalArgumentException("maxTarballBytes must be at least 1024, was " + bytes);
      }
      this.maxTarballBytes = bytes;
      return this;
    }

    /**
     * The most build log passed on per build, in bytes; beginning and end are kept (default
     * 48 KiB, so that both fit the 64 KiB a build record keeps).
     */
    public Builder maxLogBytes(long bytes) {
      if (bytes < 1024) {
        throw new IllegalArgumentException("maxLogBytes must be at least 1024, was " + bytes);
      }
      this.maxLogBytes = bytes;
      return this;
    }

    /**
     * Adds an environment variable for the build (the driver, npm and install scripts), e.g.
     * {@code PATH} when the job runner's default does not find {@code node}. Nothing else of
     * this JVM's environment reaches builds; never put credentials here (install scripts read
     * the environment): registry credentials belong in {@link #npmrc}, which only the host reads.
     */
    public Builder environment(String name, String value) {
      environment.put(Objects.requireNonNull(name, "name"), Objects.requireNonNull(value, "value"));
      return this;
    }

    /**
     * The registries builds install from and their credentials, in {@code .npmrc} syntax:
     * {@code registry=}, {@code @scope:registry=}, and per registry path {@code
     * //host[:port]/path/:_authToken=}, {@code :_auth=} or {@code :username=} with {@code
     * :_password=} (base64), with {@code ${VAR}} taken from this JVM's environment. Read by the
     * host's registry proxy only: no line of it reaches a build, whose npm sees an empty
     * configuration; other settings are ignored. Default: empty. Neither the host's user nor its
     * global npm configuration is read.
     */
    public Builder npmrc(String text) {
      this.npmrc = Objects.requireNonNull(text, "npmrc");
      return this;
    }

    /**
     * Scopes (without '@') whose packages are private: a build may fetch packages of such a scope
     * only when the module built belongs to it ({@code @corp/x} may depend on {@code @corp/y};
     * a public module may not pull in any {@code @corp} package, the registry proxy refuses).
     * Which containers may depend on them is the platform's setting ({@code
     * ServerlessPlatform.Builder#privateScope}).
     */
    public Builder privateScopes(String... scopes) {
      for (String sc : scopes) {
        String bare = sc.startsWith("@") ? sc.substring(1) : sc;
        if (!bare.matches("[a-z0-9][a-z0-9._~-]{0,213}")) {
          throw new IllegalArgumentException("privateScopes: not a scope name: " + sc);
        }
        privateScopes.add(bare);
      }
      return this;
    }

    /** Creates the builder. */
    public NpmModuleBuilder build() {
      return new NpmModuleBuilder(this);
    }
  }
}
