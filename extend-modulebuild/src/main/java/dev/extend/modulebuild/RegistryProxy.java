package dev.extend.modulebuild;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.URI;
import java.net.URLDecoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.http.UriCompliance;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.unixdomain.server.UnixDomainServerConnector;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.thread.QueuedThreadPool;

/**
 * The npm registry as one build job sees it: an HTTP server on a Unix socket in a host
 * directory the job may only read, in front of the configured upstream registries. The job
 * has no network of its own; its build driver forwards npm's connections here.
 *
 * <p>Everything from the job is hostile. The proxy answers only {@code GET} and {@code HEAD}
 * with a loopback {@code Host}, only for two kinds of path: a package document ({@code
 * /<name>}, {@code /@scope%2f<name>}), whose name must be a valid package name of a scope this
 * build may use, and a tarball it listed itself ({@code /-/extend/tarball/<id>/<file>}). In each
 * package document it hands out, tarball URLs on the origin of the registry that served it
 * point back at the proxy; tarballs anywhere else are refused. Nothing of the request but the
 * name (and whether npm asked for the abbreviated document) reaches upstream; the registries'
 * credentials are added here and never reach the job. Sizes and times are capped.
 */
final class RegistryProxy implements AutoCloseable {
  static final String SOCKET = "registry.sock";
  static final long MAX_PACKUMENT_BYTES = 64L << 20;
  /**
   * Answers (package documents, tarballs) served at once, from the upstream fetch until the
   * write to the job completed: what one build can make the host hold is bounded by this
   * times {@link #MAX_PACKUMENT_BYTES}, however many connections its scripts open or stall.
   */
  static final int MAX_SERVING = 4;
  /** Connections open at once to one build's proxy. */
  static final int MAX_CONNECTIONS = 32;
  /** How long a connection may stay without progress (a reader that stopped reading). */
  static final long IDLE_TIMEOUT_MS = 15_000;
  private static final int MAX_TARBALLS = 500_000;
  private static final String ABBREVIATED = "application/vnd.npm.install-v1+json";
  private static final Pattern LOOPBACK_HOST = Pattern.compile("(127\\.0\\.0\\.1|localhost):[0-9]{1,5}");
  private static final Pattern NAME = Pattern.compile("(?:@([a-z0-9][a-z0-9._~-]{0,213})/)?([a-z0-9_][a-z0-9._~-]{0,213})",
      Pattern.CASE_INSENSITIVE);
  private static final Pattern TARBALL = Pattern.compile("/-/extend/tarball/([0-9]{1,7})/[A-Za-z0-9._-]{1,200}");
  private static final ObjectMapper JSON = new ObjectMapper();

  /** Which scopes a build may fetch: public ones, and of the private ones only its own. */
  record Policy(Set<String> privateScopes, String ownScope) {
    boolean allows(String scope) {
      return scope == null || !privateScopes.contains(scope) || scope.equals(ownScope);
    }
  }

  private record Tarball(URI url, String packageName) {}

  private final Upstreams upstreams;
  private final HttpClient client;
  private final Policy policy;
  private final Consumer<String> log;
  private final long maxTarballBytes;
  private final Duration timeout;
  private final Server server;
  private final Map<Integer, Tarball> tarballs = new ConcurrentHashMap<>();
  private final Map<URI, Integer> ids = new ConcurrentHashMap<>();
  private final AtomicInteger nextId = new AtomicInteger();
  private final Set<String> refusedLogged = ConcurrentHashMap.newKeySet();
  private final java.util.concurrent.Semaphore serving = new java.util.concurrent.Semaphore(MAX_SERVING);

  private RegistryProxy(Upstreams upstreams, HttpClient client, Policy policy, Consumer<String> log,
      long maxTarballBytes, Duration timeout) {
    this.upstreams = upstreams;
    this.client = client;
    this.policy = policy;
    this.log = log;
    this.maxTarballBytes = maxTarballBytes;
    this.timeout = timeout;
    QueuedThreadPool threads = new QueuedThreadPool(32, 2);
    threads.setName("registry-proxy");
    threads.setDaemon(true);
    this.server = new Server(threads);
  }

  /** Starts a proxy listening on {@code dir/registry.sock}. */
  static RegistryProxy start(Path dir, Upstreams upstreams, HttpClient client, Policy policy, Consumer<String> log,
      long maxTarballBytes, Duration timeout) throws IOException {
    RegistryProxy p = new RegistryProxy(upstreams, client, policy, log, maxTarballBytes, timeout);
    HttpConfiguration http = new HttpConfiguration();
    http.setSendServerVersion(false);
    http.setSendDateHeader(false);
    http.setRequestHeaderSize(8 << 10);
    // npm asks for scoped packages as /@scope%2fname: the proxy parses raw paths itself.
    http.setUriCompliance(UriCompliance.DEFAULT.with("npm", UriCompliance.Violation.AMBIGUOUS_PATH_SEPARATOR));
    UnixDomainServerConnector connector = new UnixDomainServerConnector(p.server, new HttpConnectionFactory(http));
    connector.setUnixDomainPath(dir.resolve(SOCKET));
    connector.setIdleTimeout(IDLE_TIMEOUT_MS);
    p.server.addConnector(connector);
    p.server.addBean(new org.eclipse.jetty.server.NetworkConnectionLimit(MAX_CONNECTIONS, connector));
    p.server.setHandler(new Handler.Abstract() {
      @Override
      public boolean handle(Request request, Response response, Callback callback) {
        p.handle(request, response, callback);
        return true;
      }
    });
    try {
      p.server.start();
    } catch (Exception e) {
      p.close();
      throw new IOException("the registry proxy did not start", e);
    }
    return p;
  }

  @Override
  public void close() {
    try {
      server.stop();
    } catch (Exception e) {
      // stopping anyway
    }
  }

  private void handle(Request request, Response response, Callback callback) {
    try {
      String method = request.getMethod();
      boolean head = "HEAD".equals(method);
      if (!head && !"GET".equals(method)) {
        error(response, callback, 405, "only GET and HEAD");
        return;
      }
      String host = request.getHeaders().get(HttpHeader.HOST);
      if (host == null || !LOOPBACK_HOST.matcher(host).matches()) {
        error(response, callback, 400, "bad Host");
        return;
      }
      String raw = request.getHttpURI().getPath();
      if (raw == null) {
        error(response, callback, 404, "not found");
        return;
      }
      // Held from the fetch until the answer was written (or failed): bounds what the host holds.
      if (!serving.tryAcquire(30, java.util.concurrent.TimeUnit.SECONDS)) {
        error(response, callback, 503, "busy");
        return;
      }
      Callback done = releasing(callback);
      try {
        Matcher t = TARBALL.matcher(raw);
        if (t.matches()) {
          tarball(Integer.parseInt(t.group(1)), head, response, done);
          return;
        }
        String accept = request.getHeaders().get(HttpHeader.ACCEPT);
        packument(raw, host, accept != null && accept.contains(ABBREVIATED), head, response, done);
      } catch (RuntimeException e) {
        error(response, done, 500, "proxy error");
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      error(response, callback, 503, "interrupted");
    } catch (RuntimeException e) {
      error(response, callback, 500, "proxy error");
    }
  }

  /** The callback, returning the serving permit once when it completes either way. */
  private Callback releasing(Callback callback) {
    java.util.concurrent.atomic.AtomicBoolean released = new java.util.concurrent.atomic.AtomicBoolean();
    Runnable release = () -> {
      if (released.compareAndSet(false, true)) {
        serving.release();
      }
    };
    return new Callback() {
      @Override
      public void succeeded() {
        release.run();
        callback.succeeded();
      }

      @Override
      public void failed(Throwable x) {
        release.run();
        callback.failed(x);
      }
    };
  }

  private void packument(String raw, String host, boolean abbreviated, boolean head, Response response,
      Callback callback) {
    String decoded = raw.length() > 1 ? raw.substring(1).replace("%2f", "/").replace("%2F", "/")
        .replace("%40", "@") : "";
    Matcher m = NAME.matcher(decoded);
    if (!m.matches()) {
      error(response, callback, 404, "not found");
      return;
    }
    String scope = m.group(1) == null ? null : m.group(1).toLowerCase(Locale.ROOT);
    String name = decoded;
    if (!policy.allows(scope)) {
      if (refusedLogged.add(name)) {
        log.accept("registry: refused " + name + ": the private scope @" + scope
            + " is not open to this build");
      }
      error(response, callback, 403, name + ": the private scope @" + scope + " is not open to this build");
      return;
    }
    URI registry = upstreams.registryFor(scope);
    URI url = registry.resolve(scope == null ? m.group(2) : "@" + scope + "%2f" + m.group(2));
    HttpRequest.Builder rb = HttpRequest.newBuilder(url).timeout(timeout).GET()
        .header("Accept", abbreviated ? ABBREVIATED + "; q=1.0, application/json; q=0.8, */*" : "application/json")
        .header("User-Agent", "extend-module-builder");
    upstreams.authorization(url).ifPresent(a -> rb.header("Authorization", a));
    HttpResponse<InputStream> up;
    byte[] body;
    try {
      up = client.send(rb.build(), HttpResponse.BodyHandlers.ofInputStream());
      try (InputStream in = up.body()) {
        if (up.statusCode() != 200) {
          if (up.statusCode() == 404) {
            error(response, callback, 404, "not found");
          } else {
            log.accept("registry: upstream answered " + up.statusCode() + " for " + name);
            error(response, callback, upstreamStatus(up.statusCode()), "upstream answered " + up.statusCode());
          }
          return;
        }
        body = in.readNBytes((int) MAX_PACKUMENT_BYTES + 1);
      }
    } catch (IOException e) {
      log.accept("registry: upstream unreachable for " + name);
      error(response, callback, 502, "upstream unreachable");
      return;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      error(response, callback, 503, "interrupted");
      return;
    }
    if (body.length > MAX_PACKUMENT_BYTES) {
      log.accept("registry: the package document of " + name + " exceeds " + MAX_PACKUMENT_BYTES + " bytes");
      error(response, callback, 502, "package document too large");
      return;
    }
    byte[] rewritten;
    try {
      JsonNode doc = JSON.readTree(body);
      if (doc == null || !doc.isObject()) {
        throw new IOException("not an object");
      }
      rewrite(doc, registry, host, name);
      rewritten = JSON.writeValueAsBytes(doc);
    } catch (IOException e) {
      error(response, callback, 502, "unreadable package document");
      return;
    }
    response.setStatus(200);
    response.getHeaders().put(HttpHeader.CONTENT_TYPE, "application/json");
    response.getHeaders().put(HttpHeader.CONTENT_LENGTH, rewritten.length);
    response.write(true, head ? ByteBuffer.allocate(0) : ByteBuffer.wrap(rewritten), callback);
  }

  /** Points every tarball URL on the registry's origin back at the proxy; others are refused. */
  private void rewrite(JsonNode doc, URI registry, String host, String name) {
    JsonNode versions = doc.path("versions");
    if (!versions.isObject()) {
      return;
    }
    int refused = 0;
    for (JsonNode v : versions) {
      JsonNode dist = v.path("dist");
      if (!dist.isObject()) {
        continue;
      }
      String tarball = dist.path("tarball").asText("");
      String file = fileName(tarball);
      Integer id = null;
      try {
        URI u = URI.create(tarball);
        if (sameOrigin(u, registry)) {
          id = register(u, name);
        }
      } catch (IllegalArgumentException e) {
        // refused below
      }
      if (id == null) {
        refused++;
        ((ObjectNode) dist).put("tarball", "http://" + host + "/-/extend/refused/" + file);
      } else {
        ((ObjectNode) dist).put("tarball", "http://" + host + "/-/extend/tarball/" + id + "/" + file);
      }
    }
    if (refused > 0) {
      log.accept("registry: " + name + ": " + refused + " version(s) whose tarball lies outside the registry"
          + " are refused");
    }
  }

  private Integer register(URI url, String name) {
    Integer known = ids.get(url);
    if (known != null) {
      return known;
    }
    if (tarballs.size() >= MAX_TARBALLS) {
      return null;
    }
    return ids.computeIfAbsent(url, u -> {
      int id = nextId.getAndIncrement();
      tarballs.put(id, new Tarball(u, name));
      return id;
    });
  }

  private static boolean sameOrigin(URI a, URI b) {
    return Objects.equals(a.getScheme(), b.getScheme()) && a.getHost() != null
        && a.getHost().equalsIgnoreCase(b.getHost()) && port(a) == port(b) && a.getRawUserInfo() == null;
  }

  private static int port(URI u) {
    return u.getPort() >= 0 ? u.getPort() : "https".equals(u.getScheme()) ? 443 : 80;
  }

  private static String fileName(String url) {
    String last = url.substring(url.lastIndexOf('/') + 1);
    int q = last.indexOf('?');
    if (q >= 0) {
      last = last.substring(0, q);
    }
    last = URLDecoder.decode(last.replace("+", "%2B"), StandardCharsets.UTF_8).replaceAll("[^A-Za-z0-9._-]", "_");
    return last.isEmpty() || last.length() > 200 ? "package.tgz" : last;
  }

  private void tarball(int id, boolean head, Response response, Callback callback) {
    Tarball t = tarballs.get(id);
    if (t == null) {
      error(response, callback, 404, "not found");
      return;
    }
    URI url = t.url();
    try {
      for (int redirects = 0; ; redirects++) {
        HttpRequest.Builder rb = HttpRequest.newBuilder(url).timeout(timeout).GET()
            .header("Accept", "application/octet-stream").header("User-Agent", "extend-module-builder");
        // Credentials only for the registry's own URLs, not for where it may redirect.
        if (url.equals(t.url())) {
          upstreams.authorization(url).ifPresent(a -> rb.header("Authorization", a));
        }
        HttpResponse<InputStream> up = client.send(rb.build(), HttpResponse.BodyHandlers.ofInputStream());
        int status = up.statusCode();
        if ((status == 301 || status == 302 || status == 303 || status == 307 || status == 308) && redirects < 3) {
          up.body().close();
          URI next = up.headers().firstValue("Location").map(url::resolve).orElse(null);
          // Only to https, and never to a loopback, private or link-local address of ours: a
          // registry's redirect must not point the host at its own network.
          if (next == null || !"https".equals(next.getScheme()) && !sameOrigin(next, t.url()) || internal(next)) {
            break;
          }
          url = next;
          continue;
        }
        try (InputStream in = up.body()) {
          if (status != 200) {
            log.accept("registry: upstream answered " + status + " for a tarball of " + t.packageName());
            error(response, callback, status == 404 ? 404 : upstreamStatus(status), "upstream answered " + status);
            return;
          }
          long length = up.headers().firstValueAsLong("Content-Length").orElse(-1);
          if (length > maxTarballBytes) {
            log.accept("registry: a tarball of " + t.packageName() + " exceeds " + maxTarballBytes + " bytes");
            error(response, callback, 502, "tarball too large");
            return;
          }
          response.setStatus(200);
          response.getHeaders().put(HttpHeader.CONTENT_TYPE, "application/octet-stream");
          if (length >= 0) {
            response.getHeaders().put(HttpHeader.CONTENT_LENGTH, length);
          }
          if (head) {
            response.write(true, ByteBuffer.allocate(0), callback);
            return;
          }
          try (OutputStream os = Content.Sink.asOutputStream(response)) {
            byte[] buf = new byte[64 << 10];
            long total = 0;
            for (int r; (r = in.read(buf)) > 0; ) {
              total += r;
              if (total > maxTarballBytes) {
                throw new IOException("tarball too large");
              }
              os.write(buf, 0, r);
            }
          }
          callback.succeeded();
          return;
        }
      }
      log.accept("registry: a tarball of " + t.packageName() + " redirects too often or to a plain-HTTP host");
      error(response, callback, 502, "bad redirect");
    } catch (IOException e) {
      callback.failed(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      callback.failed(e);
    }
  }

  /** Whether a URL names a host that resolves to a loopback, private, link-local or wildcard address. */
  private static boolean internal(URI url) {
    try {
      for (java.net.InetAddress a : java.net.InetAddress.getAllByName(url.getHost())) {
        if (a.isLoopbackAddress() || a.isSiteLocalAddress() || a.isLinkLocalAddress() || a.isAnyLocalAddress()
            || a.isMulticastAddress() || (a.getAddress().length == 16 && (a.getAddress()[0] & 0xfe) == 0xfc)) {
          return true;
        }
      }
      return false;
    } catch (java.net.UnknownHostException | RuntimeException e) {
      return true;
    }
  }

  /**
   * What npm is told about an upstream failure: a refusal (401, 403) as 403, which npm does
   * not retry (the job holds no credentials it could try instead); anything else as 502.
   */
  private static int upstreamStatus(int status) {
    return status == 401 || status == 403 ? 403 : 502;
  }

  private static void error(Response response, Callback callback, int status, String message) {
    byte[] body;
    try {
      body = JSON.writeValueAsBytes(Map.of("error", message));
    } catch (IOException e) {
      body = "{}".getBytes(StandardCharsets.UTF_8);
    }
    response.setStatus(status);
    response.getHeaders().put(HttpHeader.CONTENT_TYPE, "application/json");
    response.getHeaders().put(HttpHeader.CONTENT_LENGTH, body.length);
    response.write(true, ByteBuffer.wrap(body), callback);
  }
}
