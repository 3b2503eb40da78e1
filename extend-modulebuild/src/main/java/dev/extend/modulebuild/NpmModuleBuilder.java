package dev.extend.modulebuild;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.extend.ModuleRef;
import dev.extend.spi.JobRunner;
import dev.extend.spi.ModuleBuilder;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
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
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;

/**
 * Builds a module with {@code npm install} in the sandboxes' environment and packs the
 * resulting {@code node_modules} closure as a tar.gz.
 *
 * <p>The install runs through a {@link JobRunner}: inside a builder sandbox made from the
 * sandboxes' root filesystem under containerd, or as a local process with
 * {@link JobRunner#localProcesses()} (the default, not isolating). It is, in essence:
 *
 * <pre>
 * npm install --no-audit --no-fund --no-package-lock --omit=dev --legacy-peer-deps
 *     --foreground-scripts --prefix WORK/prefix --cache WORK/npm-cache NAME@VERSION
 * </pre>
 *
 * <p>with {@code HOME}, {@code TMPDIR} and npm's user config inside the work directory, so
 * nothing of the host's npm setup leaks in and nothing is left behind. Peer dependencies are
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
  private static final List<String> DEFAULT_INHERITED = List.of("NODE_EXTRA_CA_CERTS",
      "HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "https_proxy", "http_proxy", "no_proxy");

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

  private NpmModuleBuilder(Builder b) {
    this.runner = b.runner != null ? b.runner : JobRunner.localProcesses();
    this.npmCommand = List.copyOf(b.npmCommand);
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

  /** Starts a builder with defaults: local job runner, {@code npm}, npm's public registry, 5 minutes, 256 MiB. */
  public static Builder builder() {
    return new Builder();
  }

  /** The job runner builds run in. */
  public JobRunner jobRunner() {
    return runner;
  }

  @Override
  public void build(ModuleRef module, Path workDir, Path output, Consumer<String> log)
      throws ModuleBuildException, IOException, InterruptedException {
    Objects.requireNonNull(module, "module");
    BoundedLog out = new BoundedLog(Objects.requireNonNull(log, "log"), maxLogBytes);
    long started = System.nanoTime();
    try {
      String wp = trimSlash(runner.workPath(job(module, workDir, List.of(), Map.of(), Map.of(), null, out)));
      ObjectNode config = JSON.createObjectNode();
      config.put("work", wp);
      config.put("name", module.name());
      config.put("version", module.version());
      config.putPOJO("npm", npmCommand);
      config.put("maxTarballBytes", maxTarballBytes);
      if (registry != null) {
        config.put("registry", registry.toString());
      }
      config.put("npmrc", npmrcText);
      Map<String, byte[]> inputs = Map.of(DRIVER_PATH, DRIVER, JOB_PATH, JSON.writeValueAsBytes(config));
      List<String> command = List.of(nodeCommand, wp + "/" + DRIVER_PATH, wp + "/" + JOB_PATH);
      Map<String, String> env = new LinkedHashMap<>();
      boolean onHost = wp.equals(trimSlash(workDir.toAbsolutePath().toString()));
      inherited.forEach((k, v) -> {
        // A path names a host file: meaningless (or wrong) in a runner with its own file system,
        // which brings its own CA bundle.
        if (onHost || !k.equals("NODE_EXTRA_CA_CERTS")) {
          env.put(k, v);
        }
      });
      env.putAll(environment);
      BuildOutput result = new BuildOutput(module, output, maxTarballBytes, out);
      int status;
      try {
        status = runner.run(job(module, workDir, command, env, inputs, result, out));
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
      out.flush();
      clear(workDir);
    }
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
      Map<String, byte[]> inputs, JobRunner.Collector collector, Consumer<String> out) {
    String id = "build-" + module.storeKey().replaceAll("[^A-Za-z0-9._-]", "_");
    if (id.length() > 60) {
      id = id.substring(0, 60);
    }
    return new JobRunner.Job(id, command, env, workDir, timeout, out, inputs, null, collector);
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
    private List<String> npmCommand = List.of("npm");
    private String nodeCommand = "node";
    private URI registry;
    private Duration timeout = Duration.ofMinutes(5);
    private long maxTarballBytes = 256L << 20;
    private long maxLogBytes = 48L << 10;
    private String npmrc = "";
    private final Map<String, String> environment = new LinkedHashMap<>();
    private List<String> inherited = DEFAULT_INHERITED;

    private Builder() {}

    /**
     * Names of variables copied from this JVM's environment into builds, when set. Default:
     * the network settings npm needs behind a proxy or a TLS-inspecting gateway:
     * {@code NODE_EXTRA_CA_CERTS}, {@code HTTPS_PROXY}, {@code HTTP_PROXY}, {@code NO_PROXY} and
     * their lower-case forms. {@code NODE_EXTRA_CA_CERTS} names a host file, so it is passed
     * only to runners that run on the host's file system (those that show the work directory
     * under its host path). Call with no names to pass nothing.
     */
    public Builder inheritEnvironment(String... names) {
      this.inherited = List.of(names);
      return this;
    }

    /** Where npm runs (default: {@link JobRunner#localProcesses()}, a plain local process). */
    public Builder jobRunner(JobRunner runner) {
      this.runner = Objects.requireNonNull(runner, "jobRunner");
      return this;
    }

    /** The npm command and leading arguments as seen inside the build environment (default {@code npm}). */
    public Builder npmCommand(List<String> command) {
      if (command == null || command.isEmpty()) {
        throw new IllegalArgumentException("npmCommand must name a command");
      }
      this.npmCommand = List.copyOf(command);
      return this;
    }

    /**
     * The {@code node} command as seen inside the build environment (default {@code node}, found
     * on the job's {@code PATH}); it runs the build driver, which runs npm.
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
     * Adds an environment variable for npm, e.g. {@code HTTPS_PROXY}, or {@code PATH} when the
     * job runner's default does not find {@code node}. Nothing else of this JVM's environment
     * reaches builds.
     */
    public Builder environment(String name, String value) {
      environment.put(Objects.requireNonNull(name, "name"), Objects.requireNonNull(value, "value"));
      return this;
    }

    /**
     * The npm configuration builds use, in {@code .npmrc} syntax, e.g. a private registry's
     * credentials: {@code //npm.internal/:_authToken=...}. Default: empty. Neither the host's
     * user nor its global npm configuration is read.
     */
    public Builder npmrc(String text) {
      this.npmrc = Objects.requireNonNull(text, "npmrc");
      return this;
    }

    /** Creates the builder. */
    public NpmModuleBuilder build() {
      return new NpmModuleBuilder(this);
    }
  }
}
