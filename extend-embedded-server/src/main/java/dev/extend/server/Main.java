package dev.extend.server;

import dev.extend.ExtendException;
import dev.extend.ServerlessPlatform;
import dev.extend.containerd.ContainerdRuntime;
import dev.extend.jdbc.JdbcStorage;
import dev.extend.modulebuild.NpmModuleBuilder;
import dev.extend.spi.Redact;
import dev.extend.spi.SandboxRuntime;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.Arrays;
import java.util.Base64;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The standalone Extend server: {@code java -jar extend-server.jar [--config extend.properties]}.
 *
 * <p>Settings come from the properties file ({@code --config} or {@code EXTEND_CONFIG}) and
 * from environment variables, which win: {@code EXTEND_PORT} (8080), {@code EXTEND_DATA_DIR}
 * ({@code ./extend-data}), {@code EXTEND_ADMIN_TOKEN} (generated once and stored in the data
 * dir when unset), {@code EXTEND_RUNTIME} ({@code auto} | {@code containerd} | {@code local}),
 * {@code EXTEND_CONTAINERD_SOCKET}, {@code EXTEND_JDBC_URL} (default: an H2 file database in
 * the data dir; {@code jdbc:mysql://...} or {@code jdbc:mariadb://...} with
 * {@code EXTEND_JDBC_USER}/{@code EXTEND_JDBC_PASSWORD} or with {@code user=...&password=...} in
 * the URL), {@code EXTEND_SECRET_KEYS} (else the key file {@code EXTEND_SECRET_KEYS_FILE} names,
 * else {@code <data dir>/secret.keys}, made at the first start; nodes sharing a database need the
 * same keys),
 * {@code EXTEND_POOL_SIZE}, {@code EXTEND_MAX_SANDBOXES}, {@code EXTEND_DEFAULT_TIMEOUT_MS} (and _MEMORY_MB, EXTEND_MAX_*),
 * {@code EXTEND_NPM_REGISTRY}, {@code EXTEND_EGRESS}
 * ({@code public} | {@code none} | {@code allowlist}), {@code EXTEND_EGRESS_ALLOW} and more (see
 * {@code examples/standalone/extend.properties}). SIGTERM shuts down gracefully.
 */
public final class Main {
  private static final String ADMIN_TOKEN_FILE = "admin-token";

  private Main() {}

  /**
   * Starts the server and blocks until it stops.
   *
   * @param args {@code [--config <file>]}
   */
  public static void main(String[] args) {
    // slf4j-simple reads these once, when the first logger is created.
    System.setProperty("org.slf4j.simpleLogger.showDateTime", System.getProperty(
        "org.slf4j.simpleLogger.showDateTime", "true"));
    System.setProperty("org.slf4j.simpleLogger.dateTimeFormat", System.getProperty(
        "org.slf4j.simpleLogger.dateTimeFormat", "yyyy-MM-dd'T'HH:mm:ss.SSSZ"));
    System.setProperty("org.slf4j.simpleLogger.log.org.eclipse.jetty", System.getProperty(
        "org.slf4j.simpleLogger.log.org.eclipse.jetty", "warn"));
    // grpc-netty warns that Unix sockets have no SO_KEEPALIVE on every containerd connection
    String bootstrap = "org.slf4j.simpleLogger.log.io.grpc.netty.shaded.io.netty.bootstrap.Bootstrap";
    System.setProperty(bootstrap, System.getProperty(bootstrap, "error"));
    Logger log = LoggerFactory.getLogger(Main.class);
    Running running;
    try {
      StandaloneConfig config = StandaloneConfig.load(Arrays.asList(args), System.getenv());
      running = start(config, System.out, log);
    } catch (Exception e) {
      System.exit(reportStartFailure(e, System.err, log));
      return;
    }
    Runtime.getRuntime().addShutdownHook(new Thread(running::close, "extend-shutdown"));
    try {
      running.server.join();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /**
   * Tells the operator why the server did not start, and returns the exit status: 2 for a
   * setting at fault (the database refusing the login or missing is one), 1 for an Extend error
   * (an unreachable database, secret keys that do not fit it), both as one line that names the
   * cause and what to set; anything else, a bug, with its stack trace.
   */
  static int reportStartFailure(Exception e, PrintStream err, Logger log) {
    if (e instanceof IllegalArgumentException || e instanceof IllegalStateException) {
      err.println("extend: configuration error: " + e.getMessage());
      log.debug("start-up failure", e);
      return 2;
    }
    if (e instanceof ExtendException) {
      err.println("extend: could not start: " + e.getMessage());
      log.debug("start-up failure", e);
      return 1;
    }
    log.error("extend: could not start", e);
    return 1;
  }

  /** A started server and what it owns. */
  static final class Running implements AutoCloseable {
    final ExtendServer server;
    final JdbcStorage storage;

    Running(ExtendServer server, JdbcStorage storage) {
      this.server = server;
      this.storage = storage;
    }

    /** Graceful: the server drains, closes the platform, then the storage closes. */
    @Override
    public void close() {
      server.close();
      storage.close();
    }
  }

  static Running start(StandaloneConfig config, PrintStream out, Logger log) throws IOException {
    Path dataDir = config.dataDir();
    Files.createDirectories(dataDir);
    log.info("configuration:{}", config.describe());

    String adminToken = adminToken(config, dataDir, out, log);
    String nodeId = nodeId(config, dataDir);

    JdbcStorage storage = JdbcStorage.fromEnvironment(config.asEnvironment(), dataDir);
    log.info("storage: {}", storage);
    SandboxRuntime runtime = null;
    try {
      runtime = runtime(config, nodeId, dataDir, log);
      NpmModuleBuilder.Builder builds = NpmModuleBuilder.builder();
      runtime.jobRunner().ifPresent(builds::jobRunner);
      if (config.npmRegistry() != null) {
        builds.registry(config.npmRegistry());
      }
      log.info("module builds: npm in-process ({} worker(s)), jobs run {}, registry {}", config.integer("EXTEND_BUILD_WORKERS"),
          runtime.jobRunner().isPresent() ? "in the " + runtime.name() + " runtime" : "as local processes",
          config.npmRegistry() == null ? "npm default" : Redact.credentials(config.npmRegistry().toString()));

      ServerMetrics metrics = ServerMetrics.create();
      ServerlessPlatform.Builder pb = ServerlessPlatform.builder()
          .dataDir(dataDir)
          .nodeId(nodeId)
          .defaultRuntime(config.get("EXTEND_DEFAULT_RUNTIME"))
          .npmRegistry(config.npmRegistry())
          .functionStore(storage.functionStore())
          .artifactStore(storage.artifactStore())
          .moduleStore(storage.moduleStore())
          .buildQueue(storage.buildQueue())
          .tokenStore(storage.tokenStore())
          .egressStore(storage.egressStore())
          .egress(config.egress())
          .sandboxRuntime(runtime)
          .moduleBuilder(builds.build())
          .buildWorkers(config.integer("EXTEND_BUILD_WORKERS"))
          .poolSize(config.integer("EXTEND_POOL_SIZE"))
          .maxSandboxes(config.integer("EXTEND_MAX_SANDBOXES"))
          .defaultLimits(config.limits("EXTEND_DEFAULT"))
          .maxLimits(config.limits("EXTEND_MAX"))
          .listener(metrics.platformListener());
      if (config.get("EXTEND_MAX_REQUEST_BODY_BYTES") != null) {
        pb.maxRequestBodyBytes(config.longValue("EXTEND_MAX_REQUEST_BODY_BYTES"));
      }
      config.runtimeStates().forEach(pb::runtimeState);
      if (config.get("EXTEND_RUNTIME_TARBALLS") != null) {
        pb.runtimeTarballs(Path.of(config.get("EXTEND_RUNTIME_TARBALLS")));
      }
      if (config.get("EXTEND_RUNTIMES_DIR") != null) {
        pb.runtimesDir(Path.of(config.get("EXTEND_RUNTIMES_DIR")));
      }
      ServerlessPlatform platform = pb.build();
      ExtendServer server;
      try {
        server = ExtendServer.builder(platform)
            .port(config.port())
            .host(config.get("EXTEND_HOST"))
            .adminToken(adminToken)
            .requireTokenForRun(config.bool("EXTEND_RUN_REQUIRES_TOKEN"))
            .hostDomain(config.get("EXTEND_HOST_DOMAIN"))
            .metrics(metrics)
            .drainTimeout(config.drain())
            .managementPort(config.managementPort())
            .operatorDataPublic(config.bool("EXTEND_OPERATOR_DATA_PUBLIC"))
            .trustedProxies(config.list("EXTEND_TRUSTED_PROXIES"))
            .sandboxPathRoutedAnswers(config.bool("EXTEND_SANDBOX_PATH_ROUTED"))
            .managementHost(config.get("EXTEND_MANAGEMENT_HOST"))
            .maxThreads(config.integer("EXTEND_MAX_THREADS"))
            .managementThreads(config.integer("EXTEND_MANAGEMENT_THREADS"))
            .maxConnections(config.integer("EXTEND_MAX_CONNECTIONS"))
            .maxConnectionsPerAddress(config.integer("EXTEND_MAX_CONNECTIONS_PER_ADDRESS"))
            .idleTimeout(config.seconds("EXTEND_IDLE_TIMEOUT_SECONDS"))
            .minRequestDataRate(config.integer("EXTEND_MIN_REQUEST_DATA_RATE"), Duration.ofSeconds(5))
            .requestBodyTimeout(config.seconds("EXTEND_REQUEST_BODY_TIMEOUT_SECONDS"))
            .logStreamLimits(config.integer("EXTEND_LOG_STREAMS_MAX"), config.integer("EXTEND_LOG_STREAMS_PER_TOKEN"),
                config.integer("EXTEND_LOG_STREAMS_PER_CONTAINER"))
            .closesPlatform(true)
            .build()
            .start();
      } catch (IOException | RuntimeException e) {
        platform.close();
        throw e;
      }
      out.println("Extend server ready on http://" + config.get("EXTEND_HOST") + ":" + server.port()
          + (server.managementPort() < 0 ? "" : ", management API on http://"
              + (config.get("EXTEND_MANAGEMENT_HOST") != null ? config.get("EXTEND_MANAGEMENT_HOST") : config.get("EXTEND_HOST"))
              + ":" + server.managementPort())
          + " (runtime " + platform.runtimeName() + (platform.isolating() ? "" : ", NOT ISOLATING")
          + ", egress " + egressLine(platform) + ", storage " + storage.databaseName() + ", data " + dataDir + ")");
      out.flush();
      return new Running(server, storage);
    } catch (IOException | RuntimeException e) {
      storage.close();
      throw e;
    }
  }

  /** The platform's egress mode for the start line, e.g. {@code public +1 entry} or {@code public NOT ENFORCED}. */
  static String egressLine(ServerlessPlatform platform) {
    dev.extend.EgressPolicy p = platform.platformEgressPolicy();
    int n = p.allow().size();
    String entries = n == 0 || p.mode() == dev.extend.EgressPolicy.Mode.NONE ? ""
        : " +" + n + (n == 1 ? " entry" : " entries");
    return p.mode().wireName() + entries + (platform.enforcesEgress() ? "" : " NOT ENFORCED");
  }

  /** The configured admin token, else the one stored in the data dir, else a new one stored there. */
  static String adminToken(StandaloneConfig config, Path dataDir, PrintStream out, Logger log) throws IOException {
    String configured = config.get("EXTEND_ADMIN_TOKEN");
    if (configured != null) {
      log.info("admin token: from EXTEND_ADMIN_TOKEN");
      return configured;
    }
    Path file = dataDir.resolve(ADMIN_TOKEN_FILE);
    if (Files.exists(file)) {
      log.info("admin token: read from {}", file);
      return Files.readString(file, StandardCharsets.UTF_8).strip();
    }
    byte[] random = new byte[32];
    new SecureRandom().nextBytes(random);
    String token = "ext_admin_" + Base64.getUrlEncoder().withoutPadding().encodeToString(random);
    try {
      writePrivate(file, token + "\n");
    } catch (FileAlreadyExistsException e) {
      return Files.readString(file, StandardCharsets.UTF_8).strip(); // another process won the race
    }
    out.println();
    out.println("  Generated the admin token (stored in " + file + ", mode 0600):");
    out.println("    " + token);
    out.println("  Use it as: Authorization: Bearer <token>");
    out.println();
    out.flush();
    return token;
  }

  /** This node's id: configured, else stable across restarts (so leftovers can be recovered). */
  static String nodeId(StandaloneConfig config, Path dataDir) {
    String configured = config.get("EXTEND_NODE_ID");
    return configured != null ? configured : ServerlessPlatform.storedNodeId(dataDir);
  }

  private static void writePrivate(Path file, String content) throws IOException {
    try {
      Files.createFile(file, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
    } catch (UnsupportedOperationException e) {
      Files.createFile(file);
    }
    Files.writeString(file, content, StandardCharsets.UTF_8);
  }

  /** {@code EXTEND_EGRESS_DNS}: comma-separated {@code address[:port]} (IPv6 in brackets). */
  static java.util.List<java.net.InetSocketAddress> dnsServers(String value) {
    java.util.List<java.net.InetSocketAddress> out = new java.util.ArrayList<>();
    for (String part : value.split(",")) {
      String s = part.trim();
      if (s.isEmpty()) {
        continue;
      }
      String host = s;
      int port = 53;
      if (s.startsWith("[")) {
        int close = s.indexOf(']');
        host = close < 0 ? "" : s.substring(1, close);
        if (close >= 0 && s.length() > close + 1 && s.charAt(close + 1) == ':') {
          port = Integer.parseInt(s.substring(close + 2));
        }
      } else if (s.indexOf(':') >= 0 && s.indexOf(':') == s.lastIndexOf(':')) {
        host = s.substring(0, s.indexOf(':'));
        try {
          port = Integer.parseInt(s.substring(s.indexOf(':') + 1));
        } catch (NumberFormatException e) {
          port = -1;
        }
      }
      if (!host.matches("[0-9.]+|[0-9A-Fa-f:]+") || port < 1 || port > 65535) {
        throw new IllegalStateException("EXTEND_EGRESS_DNS: not an address[:port]: " + s);
      }
      try {
        out.add(new java.net.InetSocketAddress(java.net.InetAddress.getByName(host), port));
      } catch (java.net.UnknownHostException e) {
        throw new IllegalStateException("EXTEND_EGRESS_DNS: not an address: " + s);
      }
    }
    return out;
  }

  /**
   * The sandbox runtime: the development runtime only when named ({@code EXTEND_RUNTIME=local});
   * otherwise ({@code auto}, the default, or {@code containerd}) containerd, and start-up fails
   * with what to do when it is not usable: tenants' code never runs as host processes by default.
   */
  static SandboxRuntime runtime(StandaloneConfig config, String nodeId, Path dataDir, Logger log) {
    String mode = config.runtime();
    if (mode.equals("local")) {
      log.warn("sandbox runtime: local (EXTEND_RUNTIME=local): NOT ISOLATING, tenants' code runs as processes of"
          + " this host");
      return SandboxRuntime.localProcesses();
    }
    Path socket = Path.of(config.get("EXTEND_CONTAINERD_SOCKET"));
    if (!Files.exists(socket)) {
      throw new IllegalStateException("EXTEND_RUNTIME=" + mode + " needs containerd, and there is no containerd socket"
          + " at " + socket + ". " + HOW_TO_GET_CONTAINERD);
    }
    ContainerdRuntime.Builder rb = ContainerdRuntime.builder()
        .socket(socket)
        .nodeId(nodeId)
        .dataDir(dataDir);
    try {
      rb.egressNetwork(config.get("EXTEND_EGRESS_BRIDGE"), config.get("EXTEND_EGRESS_SUBNET"));
    } catch (IllegalArgumentException e) {
      throw new IllegalStateException("EXTEND_EGRESS_BRIDGE / EXTEND_EGRESS_SUBNET: " + e.getMessage());
    }
    String dns = config.get("EXTEND_EGRESS_DNS");
    if (dns != null && !dns.isBlank()) {
      rb.egressDns(dnsServers(dns));
    }
    String ca = config.get("EXTEND_EGRESS_CA_CERTS");
    if (ca != null && !ca.isBlank()) {
      if (!Files.isReadable(Path.of(ca))) {
        throw new IllegalStateException("EXTEND_EGRESS_CA_CERTS: cannot read " + ca);
      }
      rb.egressCaCerts(Path.of(ca));
    }
    ContainerdRuntime containerd = rb.build();
    String problem = containerd.problem();
    if (problem == null) {
      log.info("sandbox runtime: containerd at {} (EXTEND_RUNTIME={})", socket, mode);
      return containerd;
    }
    containerd.close();
    throw new IllegalStateException("EXTEND_RUNTIME=" + mode + " needs containerd, but " + problem + ". "
        + HOW_TO_GET_CONTAINERD);
  }

  static final String HOW_TO_GET_CONTAINERD = "Install and start it (Debian: apt-get install containerd runc;"
      + " then run containerd, or systemctl start containerd), or set EXTEND_CONTAINERD_SOCKET to its socket;"
      + " scripts/run.sh does both. For development only, EXTEND_RUNTIME=local runs tenants' code as processes of"
      + " this host (NOT ISOLATING).";
}
