package dev.extend.modulebuild;

import dev.extend.internal.modules.BuildWorker;
import dev.extend.jdbc.JdbcStorage;
import dev.extend.spi.JobRunner;
import dev.extend.spi.SandboxRuntime;
import dev.extend.spi.SandboxRuntimeProvider;
import java.io.IOException;
import java.net.InetAddress;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.ServiceLoader;
import java.util.concurrent.CountDownLatch;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The standalone module build worker: consumes the build queue that Extend servers share
 * through their database, builds each queued module with {@link NpmModuleBuilder} and stores
 * its tarball and state in the same database. Run as many as you like, on any hosts that reach
 * the database and an npm registry; servers then need no in-process build workers
 * ({@code buildWorkers(0)}).
 *
 * <pre>
 * EXTEND_JDBC_URL=jdbc:mysql://db:3306/extend EXTEND_JDBC_USER=extend EXTEND_JDBC_PASSWORD=... \
 * EXTEND_SECRET_KEYS=... java -cp ... dev.extend.modulebuild.WorkerMain
 * </pre>
 *
 * <p>Environment: {@code EXTEND_JDBC_URL} (required), {@code EXTEND_JDBC_USER},
 * {@code EXTEND_JDBC_PASSWORD}, {@code EXTEND_JDBC_POOL_SIZE}, {@code EXTEND_SECRET_KEYS} (the
 * servers' key ring: the database refuses to open with a ring that lacks the keys its secrets
 * use, or whose keys differ from those it records), {@code EXTEND_DATA_DIR} (work files, default {@code ./extend-worker-data}),
 * {@code EXTEND_WORKER_ID} (default {@code worker-<host>}), {@code EXTEND_BUILD_WORKERS}
 * (concurrent builds, default 1), {@code EXTEND_BUILD_TIMEOUT_SECONDS} (default 300),
 * {@code EXTEND_MAX_MODULE_BYTES} (largest tarball, default 256 MiB), {@code EXTEND_NPM_REGISTRY}
 * (default npm's public registry), {@code EXTEND_NPMRC_FILE} (registries and credentials in npmrc
 * syntax, read by the worker's registry proxy only), {@code EXTEND_PRIVATE_SCOPES} (comma-separated
 * scopes whose packages only builds of their own scope may fetch), {@code EXTEND_RUNTIME} ({@code auto}: the best sandbox
 * runtime found on the class path that runs jobs, else the worker refuses to start; {@code containerd};
 * {@code local}: local processes, not isolating), {@code EXTEND_RUNTIMES_DIR} (where the platform's Node.js
 * runtimes are kept, default {@code <data dir>/runtimes}), {@code EXTEND_RUNTIME_TARBALLS} (a directory of
 * the runtimes' registry tarballs, for hosts without network). SIGTERM stops it;
 * a build cut short is taken again by another worker once its lease runs out.
 */
public final class WorkerMain {
  private static final Logger LOG = LoggerFactory.getLogger(WorkerMain.class);

  private WorkerMain() {}

  /** The worker's settings, read from environment variables. */
  record Config(String workerId, Path dataDir, int workers, Duration timeout, long maxModuleBytes,
      URI registry, String runtime, Path runtimesDir, Path runtimeTarballs, Path npmrc, List<String> privateScopes) {

    static Config from(Map<String, String> env) {
      if (blank(env.get("EXTEND_JDBC_URL"))) {
        throw new IllegalArgumentException(
            "EXTEND_JDBC_URL is required: the worker consumes the build queue in the servers' shared database");
      }
      String id = env.get("EXTEND_WORKER_ID");
      if (blank(id)) {
        id = "worker-" + hostName();
      }
      if (!id.matches("[A-Za-z0-9][A-Za-z0-9._-]{0,40}")) {
        throw new IllegalArgumentException("EXTEND_WORKER_ID must be letters, digits, '.', '_' or '-' (at most 41), was '"
            + id + "'");
      }
      int workers = integer(env, "EXTEND_BUILD_WORKERS", 1, 1, 16);
      int timeout = integer(env, "EXTEND_BUILD_TIMEOUT_SECONDS", 300, 10, 3600);
      long max = env.containsKey("EXTEND_MAX_MODULE_BYTES") && !blank(env.get("EXTEND_MAX_MODULE_BYTES"))
          ? longValue(env, "EXTEND_MAX_MODULE_BYTES", 1024, 1L << 40) : 256L << 20;
      URI registry = null;
      if (!blank(env.get("EXTEND_NPM_REGISTRY"))) {
        registry = URI.create(env.get("EXTEND_NPM_REGISTRY").strip());
      }
      String runtime = env.getOrDefault("EXTEND_RUNTIME", "auto").strip().toLowerCase(Locale.ROOT);
      if (!List.of("auto", "containerd", "local").contains(runtime)) {
        throw new IllegalArgumentException("EXTEND_RUNTIME must be auto, containerd or local, was '" + runtime + "'");
      }
      Path dataDir = Path.of(blank(env.get("EXTEND_DATA_DIR")) ? "extend-worker-data" : env.get("EXTEND_DATA_DIR"));
      Path runtimes = blank(env.get("EXTEND_RUNTIMES_DIR")) ? dataDir.toAbsolutePath().resolve("runtimes")
          : Path.of(env.get("EXTEND_RUNTIMES_DIR").strip()).toAbsolutePath();
      Path tarballs = blank(env.get("EXTEND_RUNTIME_TARBALLS")) ? null : Path.of(env.get("EXTEND_RUNTIME_TARBALLS").strip());
      Path npmrc = blank(env.get("EXTEND_NPMRC_FILE")) ? null : Path.of(env.get("EXTEND_NPMRC_FILE").strip());
      List<String> scopes = new java.util.ArrayList<>();
      if (!blank(env.get("EXTEND_PRIVATE_SCOPES"))) {
        for (String sc : env.get("EXTEND_PRIVATE_SCOPES").split(",")) {
          String bare = sc.strip().startsWith("@") ? sc.strip().substring(1) : sc.strip();
          if (!bare.matches("[a-z0-9][a-z0-9._~-]{0,213}")) {
            throw new IllegalArgumentException("EXTEND_PRIVATE_SCOPES must be scope names separated by commas, was '"
                + env.get("EXTEND_PRIVATE_SCOPES") + "'");
          }
          scopes.add(bare);
        }
      }
      return new Config(id, dataDir.toAbsolutePath(), workers, Duration.ofSeconds(timeout), max, registry, runtime, runtimes,
          tarballs, npmrc, List.copyOf(scopes));
    }

    private static int integer(Map<String, String> env, String name, int dflt, int min, int max) {
      String v = env.get(name);
      return blank(v) ? dflt : (int) longValue(env, name, min, max);
    }

    private static long longValue(Map<String, String> env, String name, long min, long max) {
      String v = env.get(name).strip();
      long n;
      try {
        n = Long.parseLong(v);
      } catch (NumberFormatException e) {
        throw new IllegalArgumentException(name + " must be a number, was '" + v + "'");
      }
      if (n < min || n > max) {
        throw new IllegalArgumentException(name + " must be between " + min + " and " + max + ", was " + n);
      }
      return n;
    }

    private static boolean blank(String s) {
      return s == null || s.isBlank();
    }

    private static String hostName() {
      try {
        return InetAddress.getLocalHost().getHostName().replaceAll("[^A-Za-z0-9._-]", "-");
      } catch (IOException e) {
        return "unknown";
      }
    }
  }

  /** A running worker; {@link #close()} stops it and releases everything it opened. */
  static final class Running implements AutoCloseable {
    private final JdbcStorage storage;
    private final SandboxRuntime runtime;
    private final BuildWorker worker;

    private Running(JdbcStorage storage, SandboxRuntime runtime, BuildWorker worker) {
      this.storage = storage;
      this.runtime = runtime;
      this.worker = worker;
    }

    @Override
    public void close() {
      worker.close();
      if (runtime != null) {
        runtime.close();
      }
      storage.close();
    }
  }

  /** Starts a worker from environment variables. */
  static Running start(Map<String, String> env) throws IOException {
    Config config = Config.from(env);
    Files.createDirectories(config.dataDir());
    SandboxRuntime runtime = null;
    JdbcStorage storage = null;
    try {
      storage = JdbcStorage.fromEnvironment(env, config.dataDir());
      JobRunner runner;
      Optional<SandboxRuntime> found = config.runtime().equals("local") ? Optional.empty() : findRuntime(config);
      if (found.isPresent()) {
        runtime = found.get();
        runtime.recover();
        runner = runtime.jobRunner().orElseThrow();
        LOG.info("builds run in the {} runtime's build sandboxes", runtime.name());
      } else if (!config.runtime().equals("local")) {
        // Fail closed: install scripts are tenants' code; they run unisolated only when asked by name.
        throw new IllegalStateException("EXTEND_RUNTIME=" + config.runtime() + " needs a sandbox runtime that runs"
            + " build jobs, and none is usable here: install and start containerd (Debian: apt-get install"
            + " containerd runc, then run containerd; set EXTEND_CONTAINERD_SOCKET when its socket is elsewhere)"
            + " with extend-runtime-containerd on the class path; EXTEND_RUNTIME=local builds as local processes"
            + " (NOT ISOLATING)");
      } else {
        runner = JobRunner.localProcesses();
        LOG.warn("EXTEND_RUNTIME=local: builds run as plain local processes, NOT ISOLATING: install scripts of the"
            + " packages built can reach this host");
      }
      NpmModuleBuilder.Builder b = NpmModuleBuilder.builder().jobRunner(runner).timeout(config.timeout())
          .maxTarballBytes(config.maxModuleBytes());
      if (config.registry() != null) {
        b.registry(config.registry());
      }
      if (config.npmrc() != null) {
        // Read here, by the host's registry proxy only: builds never see it.
        b.npmrc(java.nio.file.Files.readString(config.npmrc()));
      }
      b.privateScopes(config.privateScopes().toArray(String[]::new));
      // Builds of every ABI the platform's runtimes have, each with that ABI's runtime.
      var runtimes = new dev.extend.internal.runtime.Runtimes(dev.extend.NodeRuntime.BUILT_IN, dev.extend.NodeRuntime.DEFAULT,
          new dev.extend.internal.runtime.NodeDistributions(config.runtimesDir(), config.registry(), config.runtimeTarballs()));
      BuildWorker worker = new BuildWorker(storage.buildQueue(), storage.moduleStore(), storage.artifactStore(),
          b.build(), runtimes, config.workerId(), config.dataDir().resolve("builds"), config.maxModuleBytes())
          .start(config.workers());
      LOG.info("build worker {} started: {} concurrent build(s), database {}, registry {}", config.workerId(),
          config.workers(), storage.databaseName(),
          config.registry() == null ? "npm default" : dev.extend.spi.Redact.credentials(config.registry().toString()));
      return new Running(storage, runtime, worker);
    } catch (IOException | RuntimeException e) {
      if (runtime != null) {
        runtime.close();
      }
      if (storage != null) {
        storage.close();
      }
      throw e;
    }
  }

  private static Optional<SandboxRuntime> findRuntime(Config config) {
    List<SandboxRuntimeProvider> providers = new ArrayList<>();
    ServiceLoader.load(SandboxRuntimeProvider.class).forEach(providers::add);
    providers.sort(Comparator.comparingInt(SandboxRuntimeProvider::priority).reversed());
    SandboxRuntimeProvider.Context ctx =
        new SandboxRuntimeProvider.Context(config.workerId(), config.dataDir());
    for (SandboxRuntimeProvider p : providers) {
      Optional<SandboxRuntime> r = p.create(ctx);
      if (r.isEmpty()) {
        continue;
      }
      if (r.get().isolating() && r.get().jobRunner().isPresent()
          && (config.runtime().equals("auto") || r.get().name().equals(config.runtime()))) {
        return r;
      }
      r.get().close();
    }
    return Optional.empty();
  }

  /**
   * Runs the worker until SIGTERM.
   *
   * @param args none
   */
  public static void main(String[] args) throws InterruptedException {
    Running running;
    try {
      running = start(System.getenv());
    } catch (IllegalArgumentException | IllegalStateException e) {
      System.err.println("extend worker: " + e.getMessage());
      System.exit(2);
      return;
    } catch (IOException | RuntimeException e) {
      LOG.error("extend worker failed to start", e);
      System.exit(1);
      return;
    }
    CountDownLatch stopped = new CountDownLatch(1);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      LOG.info("stopping build worker");
      running.close();
      stopped.countDown();
    }, "extend-worker-shutdown"));
    stopped.await();
  }
}
