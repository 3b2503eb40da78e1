package dev.extend.server;

import dev.extend.ServerlessPlatform;
import dev.extend.server.internal.ApiHandler;
import dev.extend.server.internal.Auth;
import dev.extend.server.internal.ConnectionsPerAddress;
import dev.extend.server.internal.JsonErrorHandler;
import dev.extend.server.internal.LogStreams;
import dev.extend.server.internal.RequestBodyGuard;
import dev.extend.server.internal.RootHandler;
import dev.extend.server.internal.RunHandler;
import dev.extend.server.internal.SelectorLoop;
import dev.extend.server.internal.ServerThreadPool;
import dev.extend.spi.Router;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import org.eclipse.jetty.http.UriCompliance;
import org.eclipse.jetty.io.ManagedSelector;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.LocalConnector;
import org.eclipse.jetty.server.NetworkConnectionLimit;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.server.handler.GracefulHandler;
import org.eclipse.jetty.util.InetAddressSet;
import org.eclipse.jetty.util.thread.QueuedThreadPool;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The embedded HTTP server of an Extend platform: the run proxy ({@code /run/{container}/{webhook}}),
 * the management API ({@code /api/v1/...}), health, readiness and Prometheus metrics.
 *
 * <pre>{@code
 * ServerMetrics metrics = ServerMetrics.create();
 * ServerlessPlatform platform = ServerlessPlatform.builder()
 *     .listener(metrics.platformListener())
 *     .build();
 * try (ExtendServer server = ExtendServer.builder(platform)
 *     .port(8080)
 *     .adminToken(System.getenv("EXTEND_ADMIN_TOKEN"))
 *     .metrics(metrics)
 *     .closesPlatform(true)
 *     .build()
 *     .start()) {
 *   server.join();
 * }
 * }</pre>
 *
 * <p>{@link #close()} is graceful: the server stops accepting connections, {@code /readyz}
 * turns 503, log streams end, in-flight requests get up to the drain timeout to finish, and
 * then the platform is closed if this server owns it.
 *
 * <p>Facing the internet: request bodies must arrive at a minimum rate and within a deadline
 * (408 otherwise); connections are capped in all and per remote address; the management API
 * has threads of its own, or a listener of its own ({@link Builder#managementPort}), so that
 * {@code /run}'s clients, however slow or many, cannot starve it; log streams are limited per
 * token, per container and in all, and end when their token is revoked; forwarding headers are
 * believed only from {@link Builder#trustedProxies trusted proxies}; path-routed answers cannot
 * set cookies for other paths and run sandboxed; errors name no host paths, sandbox ids or Java
 * exceptions. {@link Builder#hostDomain Per-container host names} are the production setting.
 */
public final class ExtendServer implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(ExtendServer.class);
  /** Jetty's own pool: acceptor, selectors and short non-blocking tasks. */
  private static final int IO_THREADS = Math.max(16, 4 * Runtime.getRuntime().availableProcessors());

  private final ServerlessPlatform platform;
  private final Builder config;
  private final Server jetty;
  private final ServerConnector connector;
  private final ServerConnector managementConnector;
  private final QueuedThreadPool management;
  private final ConnectionsPerAddress perAddress;
  private final RootHandler root;
  private final LogStreams logs;
  /** The selectors attached to the platform while the server runs. */
  private final java.util.List<AutoCloseable> loops = new java.util.concurrent.CopyOnWriteArrayList<>();
  private boolean started;
  private boolean closed;

  private ExtendServer(Builder b) {
    this.platform = b.platform;
    this.config = b;
    ServerMetrics metrics = b.metrics == null ? ServerMetrics.create() : b.metrics;
    metrics.bind(platform);

    // Three thread budgets, so that no kind of client can starve another. Jetty's own pool only
    // runs Jetty's short tasks (accepting, opening and resuming connections, parsing) and never
    // a call that blocks: slow clients cannot keep new connections from being served.
    QueuedThreadPool io = new ServerThreadPool(IO_THREADS, 4);
    io.setName("extend-http");
    jetty = new Server(io);
    // Run calls that block (a token to check, a body or an answer that streams) take these.
    QueuedThreadPool runThreads = new QueuedThreadPool(b.maxThreads, Math.min(8, b.maxThreads));
    runThreads.setName("extend-run");
    jetty.addBean(runThreads);
    // The management API, readiness and metrics take these, which /run never uses. A management
    // connector runs on them too (its acceptor and selector hold one each).
    management = new QueuedThreadPool(b.managementThreads + (b.managementPort >= 0 ? 2 : 0), 2);
    management.setName("extend-management");
    jetty.addBean(management);

    HttpConfiguration http = new HttpConfiguration();
    http.setSendServerVersion(false);
    http.setSendXPoweredBy(false);
    // Encoded slashes must reach the API (scoped module names are %40scope%2Fname); paths
    // are split before decoding, so they cannot change which resource is addressed.
    http.setUriCompliance(UriCompliance.DEFAULT.with("extend",
        UriCompliance.Violation.AMBIGUOUS_PATH_SEPARATOR, UriCompliance.Violation.AMBIGUOUS_PATH_ENCODING));
    connector = new ServerConnector(jetty, 1, -1, new HttpConnectionFactory(http));
    connector.setPort(b.port);
    connector.setHost(b.host);
    connector.setAcceptQueueSize(1024);
    connector.setIdleTimeout(b.idleTimeout.toMillis());
    InetAddressSet proxies = trustedProxies(b.trustedProxies);
    // a trusted proxy carries many clients' connections: it is not held to the per-address cap
    perAddress = new ConnectionsPerAddress(b.maxConnectionsPerAddress, proxies == null ? address -> false : proxies);
    connector.addBean(perAddress);
    jetty.addConnector(connector);
    // Past the global cap the connector stops accepting until connections close; a management
    // connector is not counted, so the API stays reachable when /run's clients fill the cap.
    jetty.addBean(new NetworkConnectionLimit(b.maxConnections, connector));

    if (b.managementPort >= 0) {
      managementConnector = new ServerConnector(jetty, management, null, null, 1, 1, new HttpConnectionFactory(http));
      managementConnector.setPort(b.managementPort);
      managementConnector.setHost(b.managementHost != null ? b.managementHost : b.host);
      managementConnector.setIdleTimeout(b.idleTimeout.toMillis());
      jetty.addConnector(managementConnector);
    } else {
      managementConnector = null;
    }

    Auth auth = new Auth(platform, b.adminToken);
    logs = new LogStreams(platform, b.heartbeat, b.logStreams, b.logStreamsPerToken, b.logStreamsPerContainer);
    ApiHandler api = new ApiHandler(platform, auth, logs, b.maxBodyBytes, openApiDocument());
    RunHandler run = new RunHandler(platform, auth, b.requireTokenForRun, runThreads, proxies);
    Router hostRouter = b.hostDomain == null ? null : Router.hostBased(b.hostDomain);
    root = new RootHandler(platform, hostRouter, b.router, run, api, metrics::scrape, management, managementConnector,
        auth, b.operatorDataPublic, b.sandboxPathRouted);
    RequestBodyGuard bodies = new RequestBodyGuard(root, b.minRequestDataRate, b.minRequestDataRateGrace,
        b.requestBodyTimeout);
    GracefulHandler graceful = new GracefulHandler(bodies);
    jetty.setHandler(graceful);
    jetty.setErrorHandler(new JsonErrorHandler());
    jetty.setStopTimeout(b.drainTimeout.toMillis());
    jetty.setStopAtShutdown(false);
  }

  /** The set of trusted proxy addresses, or null when there are none. */
  private static InetAddressSet trustedProxies(List<String> cidrs) {
    if (cidrs.isEmpty()) {
      return null;
    }
    InetAddressSet set = new InetAddressSet();
    cidrs.forEach(set::add);
    return set;
  }

  /**
   * Starts building a server for {@code platform}.
   *
   * @param platform the platform served; closed by {@link #close()} only when
   *     {@link Builder#closesPlatform(boolean)} is set
   */
  public static Builder builder(ServerlessPlatform platform) {
    return new Builder(platform);
  }

  /**
   * Starts listening.
   *
   * @return this server
   * @throws IOException when the port cannot be bound
   */
  public synchronized ExtendServer start() throws IOException {
    if (closed) {
      throw new IllegalStateException("the server is closed");
    }
    if (started) {
      return this;
    }
    try {
      jetty.start();
    } catch (IOException e) {
      stopQuietly();
      throw e;
    } catch (Exception e) {
      stopQuietly();
      throw new IOException("could not start the server on " + describeAddress() + ": " + e.getMessage(), e);
    }
    started = true;
    for (ManagedSelector selector : connector.getSelectorManager().getBeans(ManagedSelector.class)) {
      loops.add(platform.attach(new SelectorLoop(selector)));
    }
    LOG.info("Extend server listening on {}{} (runtime: {}, run requires token: {})",
        describeAddress(), managementConnector == null ? "" : ", management API on "
            + (managementConnector.getHost() == null ? "0.0.0.0" : managementConnector.getHost()) + ":"
            + managementConnector.getLocalPort(), platform.runtimeName(), config.requireTokenForRun);
    return this;
  }

  /** The port listened on (the real one when configured as 0); -1 before {@link #start()}. */
  public int port() {
    return connector.getLocalPort();
  }

  /**
   * The port of the management listener (the real one when configured as 0), or -1 when the
   * management API is served on {@link #port()} (or before {@link #start()}).
   */
  public int managementPort() {
    return managementConnector == null ? -1 : managementConnector.getLocalPort();
  }

  /** Connections closed at once because their remote address had too many open. */
  public long connectionsRefused() {
    return perAddress.refused();
  }

  /** The platform served. */
  public ServerlessPlatform platform() {
    return platform;
  }

  /** Blocks until the server has stopped. */
  public void join() throws InterruptedException {
    jetty.join();
  }

  /**
   * Stops gracefully: refuses new connections, turns {@code /readyz} to 503, ends log streams,
   * waits up to the drain timeout for in-flight requests, stops, and closes the platform if
   * this server owns it. Idempotent.
   */
  @Override
  public void close() {
    synchronized (this) {
      if (closed) {
        return;
      }
      closed = true;
    }
    root.shuttingDown();
    logs.closeAll();
    long t0 = System.nanoTime();
    stopQuietly();
    LOG.info("Extend server stopped in {} ms", (System.nanoTime() - t0) / 1_000_000);
    if (config.closesPlatform) {
      try {
        platform.close();
      } catch (RuntimeException e) {
        // Shutdown goes on; what could not be released is logged.
        LOG.warn("closing the platform failed", e);
      }
    }
  }

  private void stopQuietly() {
    try {
      jetty.stop();
    } catch (Exception e) {
      LOG.warn("stopping the HTTP server failed", e);
    }
    for (AutoCloseable loop : loops) {
      try {
        loop.close();
      } catch (Exception e) {
        LOG.warn("detaching a selector from the platform failed", e);
      }
    }
    loops.clear();
  }

  private String describeAddress() {
    int p = started ? port() : config.port;
    return (config.host == null ? "0.0.0.0" : config.host) + ":" + p;
  }

  /** Adds an in-memory connector (for tests of the handlers without sockets); call before start. */
  LocalConnector addLocalConnector() {
    LocalConnector local = new LocalConnector(jetty, connector.getConnectionFactory(HttpConnectionFactory.class));
    jetty.addConnector(local);
    return local;
  }

  /** Log streams currently open (tests check that a client's disconnect ends its stream). */
  int openLogStreams() {
    return logs.openStreams();
  }

  static byte[] openApiDocument() {
    try (InputStream in = ExtendServer.class.getResourceAsStream("openapi.json")) {
      if (in == null) {
        throw new IllegalStateException("openapi.json is missing from the jar");
      }
      return in.readAllBytes();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Configures an {@link ExtendServer}; {@link #build()} validates and seals it. */
  public static final class Builder {
    private final ServerlessPlatform platform;
    private int port = 8080;
    private String host;
    private String adminToken;
    private boolean requireTokenForRun;
    private Router router = Router.pathBased("/run");
    private String hostDomain;
    private long maxBodyBytes = 4L * 1024 * 1024;
    private ServerMetrics metrics;
    private boolean closesPlatform;
    private Duration drainTimeout = Duration.ofSeconds(30);
    private Duration heartbeat = Duration.ofSeconds(15);
    private int maxThreads = 400;
    private int managementThreads = 32;
    private int managementPort = -1;
    private String managementHost;
    private int maxConnections = 4096;
    private int maxConnectionsPerAddress = 256;
    private Duration idleTimeout = Duration.ofSeconds(30);
    private long minRequestDataRate = 1024;
    private Duration minRequestDataRateGrace = Duration.ofSeconds(5);
    private Duration requestBodyTimeout = Duration.ofSeconds(60);
    private boolean operatorDataPublic;
    private boolean sandboxPathRouted = true;
    private List<String> trustedProxies = List.of();
    private int logStreams = 256;
    private int logStreamsPerToken = 8;
    private int logStreamsPerContainer = 32;
    private boolean built;

    private Builder(ServerlessPlatform platform) {
      this.platform = Objects.requireNonNull(platform, "platform");
    }

    /** TCP port (default 8080; 0 picks a free one, see {@link ExtendServer#port()}). */
    public Builder port(int port) {
      this.port = port;
      return this;
    }

    /** Address to bind (default: every interface). */
    public Builder host(String host) {
      this.host = host;
      return this;
    }

    /**
     * The admin token: grants every container and the admin-only routes. At least 16
     * characters. Without one, only admin tokens issued by the platform are admins.
     */
    public Builder adminToken(String token) {
      this.adminToken = token;
      return this;
    }

    /**
     * Whether {@code /run/...} needs a bearer token granting the webhook's container (default
     * false: webhooks are public URLs, like most webhook receivers). The token is not passed on.
     */
    public Builder requireTokenForRun(boolean require) {
      this.requireTokenForRun = require;
      return this;
    }

    /** How run requests map to webhooks (default {@code Router.pathBased("/run")}). */
    public Builder router(Router router) {
      this.router = Objects.requireNonNull(router, "router");
      return this;
    }

    /**
     * Also serves {@code {container}.<domain>/{webhook}[/{rest}]}; such hosts are routed
     * before anything else, so the whole path belongs to the webhook.
     *
     * <p>The production setting: each container gets an origin of its own, so a tenant's pages,
     * scripts and cookies reach neither other tenants' webhooks nor the management API. On the
     * path router they all share the API's origin, and only cookie scoping and the sandboxing
     * headers ({@link #sandboxPathRoutedAnswers}) stand between them.
     */
    public Builder hostDomain(String domain) {
      this.hostDomain = domain;
      return this;
    }

    /**
     * Whether answers of webhooks on the path router (which share this server's origin with
     * each other and with the management API) carry {@code Content-Security-Policy: sandbox}
     * and {@code X-Content-Type-Options: nosniff} (default true). Turn it off only when the
     * webhooks must serve pages that run scripts in this origin, and no browser that holds
     * anything of the API visits them. Their cookies are held to their own path either way.
     */
    public Builder sandboxPathRoutedAnswers(boolean sandbox) {
      this.sandboxPathRouted = sandbox;
      return this;
    }

    /** Largest management request body, in bytes (default 4 MiB); invocations use the platform's limit. */
    public Builder maxBodyBytes(long bytes) {
      this.maxBodyBytes = bytes;
      return this;
    }

    /**
     * The proxies (load balancers) whose forwarding headers are believed, as addresses or CIDR
     * blocks ({@code 10.0.0.0/8}, {@code 2001:db8::/32}, {@code 192.168.1.7}); default none.
     * From a trusted proxy, {@code X-Forwarded-*} and {@code Forwarded} reach webhooks (its own
     * address appended to {@code X-Forwarded-For}), and it is not held to the per-address
     * connection cap. From anyone else they are dropped, and {@code X-Forwarded-For},
     * {@code -Proto} and {@code -Host} are set from the connection.
     */
    public Builder trustedProxies(List<String> cidrs) {
      this.trustedProxies = List.copyOf(cidrs);
      return this;
    }

    /**
     * Whether {@code /metrics} and the problems {@code /readyz} lists are served to anyone on
     * every listener (default false: only on the management listener, or to an admin's token;
     * anyone gets {@code /healthz} and the bare readiness status).
     */
    public Builder operatorDataPublic(boolean open) {
      this.operatorDataPublic = open;
      return this;
    }

    /** The metrics to serve at {@code /metrics} (default: new ones without invocation figures). */
    public Builder metrics(ServerMetrics metrics) {
      this.metrics = Objects.requireNonNull(metrics, "metrics");
      return this;
    }

    /** Whether {@link ExtendServer#close()} also closes the platform (default false). */
    public Builder closesPlatform(boolean closes) {
      this.closesPlatform = closes;
      return this;
    }

    /** How long {@link ExtendServer#close()} waits for in-flight requests (default 30 s). */
    public Builder drainTimeout(Duration timeout) {
      this.drainTimeout = Objects.requireNonNull(timeout, "drainTimeout");
      return this;
    }

    /**
     * Limits on log streams ({@code GET .../logs}): at most {@code total} open on this server
     * (default 256), {@code perToken} per token (default 8) and {@code perContainer} per
     * container (default 32; admins are not held to it). Beyond, 429 with {@code Retry-After}.
     */
    public Builder logStreamLimits(int total, int perToken, int perContainer) {
      this.logStreams = total;
      this.logStreamsPerToken = perToken;
      this.logStreamsPerContainer = perContainer;
      return this;
    }

    /** How often an idle log stream sends a heartbeat (default 15 s). */
    public Builder logHeartbeat(Duration interval) {
      this.heartbeat = Objects.requireNonNull(interval, "logHeartbeat");
      return this;
    }

    /**
     * Most threads for run calls that block (default 400): those whose request body or answer
     * streams, or that need a token check. Warm calls with small bodies hold none. Jetty's own
     * work and the management API have threads of their own.
     */
    public Builder maxThreads(int threads) {
      this.maxThreads = threads;
      return this;
    }

    /**
     * Threads reserved for the management API, readiness and metrics (default 32), apart from
     * the shared pool, so that clients of {@code /run} cannot take them.
     */
    public Builder managementThreads(int threads) {
      this.managementThreads = threads;
      return this;
    }

    /**
     * Serves the management API, readiness details and metrics on their own listener at this
     * port (0 picks a free one, see {@link ExtendServer#managementPort()}); the main port then
     * serves only {@code /run}, {@code /healthz} and {@code /readyz}. Default: none, everything
     * on the main port. The production setting: the API is then reachable only where the
     * operator binds it, and {@code /run}'s clients share neither its connections nor its threads.
     */
    public Builder managementPort(int port) {
      this.managementPort = port;
      return this;
    }

    /** Address the management listener binds (default: the same as {@link #host(String)}). */
    public Builder managementHost(String host) {
      this.managementHost = host;
      return this;
    }

    /**
     * Most open connections on the main port (default 4096); beyond, new ones wait in the
     * accept queue until others close. The management listener is not counted.
     */
    public Builder maxConnections(int max) {
      this.maxConnections = max;
      return this;
    }

    /**
     * Most open connections of one remote address on the main port (default 256); a connection
     * beyond is closed at once. A host application calling its webhooks through the server from
     * one machine needs this above the size of its connection pool.
     */
    public Builder maxConnectionsPerAddress(int max) {
      this.maxConnectionsPerAddress = max;
      return this;
    }

    /** How long a connection may stay silent before it is closed (default 30 s). */
    public Builder idleTimeout(Duration timeout) {
      this.idleTimeout = Objects.requireNonNull(timeout, "idleTimeout");
      return this;
    }

    /**
     * The least average rate at which a request body must arrive once {@code grace} has passed
     * (default 1024 bytes/s after 5 s; 0 turns it off). Slower bodies are answered 408 and their
     * connection closed.
     */
    public Builder minRequestDataRate(long bytesPerSecond, Duration grace) {
      this.minRequestDataRate = bytesPerSecond;
      this.minRequestDataRateGrace = Objects.requireNonNull(grace, "grace");
      return this;
    }

    /**
     * The longest a whole request body may take to arrive, from the end of its headers
     * (default 60 s; zero turns it off). Beyond, the request is answered 408.
     */
    public Builder requestBodyTimeout(Duration timeout) {
      this.requestBodyTimeout = Objects.requireNonNull(timeout, "requestBodyTimeout");
      return this;
    }

    /**
     * Validates the configuration and creates the server (not started).
     *
     * @throws IllegalStateException naming the setting when it is invalid
     */
    public ExtendServer build() {
      if (built) {
        throw new IllegalStateException("build() was already called on this builder");
      }
      if (port < 0 || port > 65535) {
        throw new IllegalStateException("port must be 0..65535, was " + port);
      }
      if (adminToken != null && adminToken.length() < 16) {
        throw new IllegalStateException("adminToken must be at least 16 characters");
      }
      if (adminToken != null && !adminToken.chars().allMatch(c -> c > 0x20 && c < 0x7f)) {
        throw new IllegalStateException("adminToken must be printable ASCII without spaces");
      }
      if (maxBodyBytes < 1024) {
        throw new IllegalStateException("maxBodyBytes must be at least 1024, was " + maxBodyBytes);
      }
      if (drainTimeout.isNegative()) {
        throw new IllegalStateException("drainTimeout must not be negative");
      }
      if (heartbeat.toMillis() < 10) {
        throw new IllegalStateException("logHeartbeat must be at least 10 ms");
      }
      if (maxThreads < 16) {
        throw new IllegalStateException("maxThreads must be at least 16, was " + maxThreads);
      }
      if (managementThreads < 4) {
        throw new IllegalStateException("managementThreads must be at least 4, was " + managementThreads);
      }
      if (managementPort < -1 || managementPort > 65535) {
        throw new IllegalStateException("managementPort must be 0..65535 (or -1 for none), was " + managementPort);
      }
      if (managementPort > 0 && managementPort == port) {
        throw new IllegalStateException("managementPort must differ from port (" + port + ")");
      }
      if (maxConnections < 1) {
        throw new IllegalStateException("maxConnections must be at least 1, was " + maxConnections);
      }
      if (maxConnectionsPerAddress < 1) {
        throw new IllegalStateException("maxConnectionsPerAddress must be at least 1, was " + maxConnectionsPerAddress);
      }
      if (idleTimeout.toMillis() < 100) {
        throw new IllegalStateException("idleTimeout must be at least 100 ms");
      }
      if (minRequestDataRate < 0 || minRequestDataRateGrace.isNegative()) {
        throw new IllegalStateException("minRequestDataRate and its grace period must not be negative");
      }
      for (String cidr : trustedProxies) {
        try {
          new InetAddressSet().add(cidr.strip());
        } catch (RuntimeException e) {
          throw new IllegalStateException("trustedProxies: '" + cidr + "' is not an address or CIDR block");
        }
      }
      trustedProxies = trustedProxies.stream().map(String::strip).toList();
      if (logStreams < 1 || logStreamsPerToken < 1 || logStreamsPerContainer < 1) {
        throw new IllegalStateException("logStreamLimits must all be at least 1, were " + logStreams + ", "
            + logStreamsPerToken + ", " + logStreamsPerContainer);
      }
      if (requestBodyTimeout.isNegative()) {
        throw new IllegalStateException("requestBodyTimeout must not be negative");
      }
      if (hostDomain != null && (hostDomain.isBlank() || hostDomain.startsWith("."))) {
        throw new IllegalStateException("hostDomain must be a domain such as hooks.example.com");
      }
      built = true;
      return new ExtendServer(this);
    }
  }
}
