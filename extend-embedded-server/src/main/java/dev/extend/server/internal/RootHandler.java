package dev.extend.server.internal;

import dev.extend.NotFoundException;
import dev.extend.ServerlessPlatform;
import dev.extend.spi.Router;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Executor;
import java.util.function.Supplier;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.http.PreEncodedHttpField;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.thread.Invocable.InvocationType;

/**
 * The server's single handler: a host route (when configured) first, then the fixed paths
 * ({@code /api/v1}, {@code /healthz}, {@code /readyz}, {@code /metrics}), then the run router.
 *
 * <p>Operator data is not for everyone: {@code /metrics} and the problems {@code /readyz}
 * lists are served on the management listener, or to an admin's token; anyone gets
 * {@code /healthz} and the bare readiness status (200 or 503), which is what load balancers need.
 *
 * <p>It declares itself non-blocking, so Jetty calls it on the thread that parsed the request
 * (a selector thread under load) with no hand-off: routing and {@code /healthz} answer there,
 * the run proxy keeps a warm call there (see {@link RunHandler}), and every route that may block
 * (the management API, readiness, metrics) is moved to the management threads first, which
 * {@code /run} never uses: slow or numerous run clients cannot starve the API.
 */
public final class RootHandler extends Handler.Abstract {
  private static final byte[] OK = Json.utf8("{\"status\":\"ok\"}");
  private static final PreEncodedHttpField PROMETHEUS_TYPE = new PreEncodedHttpField(
      HttpHeader.CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8");

  /** The fixed routes outside the management API, as {@code METHOD /path}. */
  public static final List<String> FIXED_ROUTES = List.of("GET /healthz", "GET /readyz", "GET /metrics");

  private final ServerlessPlatform platform;
  private final Router hostRouter;
  private final Router runRouter;
  private final RunHandler run;
  private final ApiHandler api;
  private final Supplier<String> metrics;
  private final Executor management;
  private final Connector managementConnector;
  private final Auth auth;
  private final boolean operatorDataPublic;
  private final boolean sandboxSharedOrigin;
  private volatile boolean shuttingDown;

  /**
   * Creates the root handler.
   *
   * @param platform the platform served
   * @param hostRouter consulted first for every request, or null
   * @param runRouter routes the remaining requests to webhooks
   * @param run the run proxy
   * @param api the management API
   * @param metrics renders the Prometheus text
   * @param management runs the management API, readiness and metrics (threads that {@code /run}
   *     does not use)
   * @param managementConnector the management listener, or null when everything is served on
   *     one listener; when set, the API and metrics are served only there and {@code /run} only
   *     on the others
   * @param auth tells admins, to whom the metrics and readiness details are shown elsewhere
   * @param operatorDataPublic whether metrics and readiness details are shown to anyone
   * @param sandboxSharedOrigin whether answers of path-routed webhooks get the sandboxing
   *     headers (see {@link SharedOrigin})
   */
  public RootHandler(ServerlessPlatform platform, Router hostRouter, Router runRouter, RunHandler run,
      ApiHandler api, Supplier<String> metrics, Executor management, Connector managementConnector, Auth auth,
      boolean operatorDataPublic, boolean sandboxSharedOrigin) {
    this.platform = platform;
    this.hostRouter = hostRouter;
    this.runRouter = runRouter;
    this.run = run;
    this.api = api;
    this.metrics = metrics;
    this.management = management;
    this.managementConnector = managementConnector;
    this.auth = auth;
    this.operatorDataPublic = operatorDataPublic;
    this.sandboxSharedOrigin = sandboxSharedOrigin;
  }

  /** Makes {@code /readyz} answer 503 from now on, so load balancers stop sending traffic. */
  public void shuttingDown() {
    shuttingDown = true;
  }

  @Override
  public InvocationType getInvocationType() {
    return InvocationType.NON_BLOCKING;
  }

  @Override
  public boolean handle(Request request, Response response, Callback callback) {
    String path = request.getHttpURI().getPath();
    boolean managementListener = managementConnector != null
        && request.getConnectionMetaData().getConnector() == managementConnector;
    // With a management listener, the main port serves no management route and it serves no webhook.
    boolean serveManagement = managementConnector == null || managementListener;
    if (hostRouter != null && !managementListener) {
      Optional<Router.Route> route = hostRouter.route(request.getHttpURI().getHost(), path);
      if (route.isPresent()) {
        run.handle(request, response, callback, route.get(), SharedOrigin.Policy.OWN_ORIGIN);
        return true;
      }
    }
    if (serveManagement && path.startsWith(ApiHandler.PREFIX) && (path.length() == ApiHandler.PREFIX.length()
        || path.charAt(ApiHandler.PREFIX.length()) == '/')) {
      blocking(request, response, callback, () -> api.handle(request, response, callback));
      return true;
    }
    switch (path) {
      case "/healthz" -> {
        Json.write(response, 200, OK, callback);
        return true;
      }
      case "/readyz" -> {
        // the status is for load balancers; what is wrong is for the operator
        boolean open = managementListener || operatorDataPublic;
        blocking(request, response, callback, () -> ready(response, callback, open || admin(request)));
        return true;
      }
      case "/metrics" -> {
        if (!serveManagement && !operatorDataPublic) {
          break;
        }
        blocking(request, response, callback, () -> {
          if (!managementListener && !operatorDataPublic) {
            auth.authenticate(request).requireAdmin();
          }
          byte[] text = metrics.get().getBytes(StandardCharsets.UTF_8);
          response.setStatus(200);
          response.getHeaders().put(PROMETHEUS_TYPE);
          response.getHeaders().put(HttpHeader.CONTENT_LENGTH, text.length);
          response.write(true, ByteBuffer.wrap(text), callback);
        });
        return true;
      }
      default -> {
      }
    }
    Optional<Router.Route> route = Optional.empty();
    if (!managementListener) {
      try {
        route = runRouter.route(request.getHttpURI().getHost(), path);
      } catch (RuntimeException e) {
        route = Optional.empty();
      }
    }
    if (route.isPresent()) {
      // on the run router the webhook shares this origin with every other and with the API
      run.handle(request, response, callback, route.get(),
          new SharedOrigin.Policy(SharedOrigin.scopeOf(path, route.get().rest()), sandboxSharedOrigin));
    } else {
      Errors.send(response, callback, new NotFoundException("nothing is served at " + path));
    }
    return true;
  }

  /** Runs management work, which may block, on the management threads. */
  private void blocking(Request request, Response response, Callback callback, Runnable work) {
    management.execute(() -> {
      try {
        work.run();
      } catch (Throwable t) {
        Errors.send(response, callback, t);
      }
    });
  }

  /** Whether the request carries an admin's token (a wrong or missing one is no error here). */
  private boolean admin(Request request) {
    if (!request.getHeaders().contains(HttpHeader.AUTHORIZATION)) {
      return false;
    }
    try {
      return auth.authenticate(request).admin();
    } catch (RuntimeException e) {
      return false;
    }
  }

  private void ready(Response response, Callback callback, boolean detailed) {
    List<String> problems;
    try {
      problems = shuttingDown ? List.of("the server is shutting down") : platform.readinessProblems();
    } catch (RuntimeException e) {
      problems = List.of("readiness check failed: " + e.getMessage());
    }
    var body = Json.MAPPER.createObjectNode();
    body.put("status", problems.isEmpty() ? "ready" : "not_ready");
    if (!platform.isolating()) {
      // Said to everyone, like the start-up banner: the development runtime runs tenants' code
      // as plain processes of this host.
      body.put("isolation", "NOT ISOLATING: the development runtime runs tenants' code as host processes");
    }
    if (!platform.enforcesEgress()) {
      // Said to everyone too: egress policies are stored but nothing applies them.
      body.put("egress", platform.isolating()
          ? "not enforced: the sandbox runtime gives sandboxes no network beyond loopback"
          : "NOT ENFORCED: the development runtime gives sandboxes the host's network");
    }
    if (detailed) {
      var arr = body.putArray("problems");
      problems.forEach(arr::add);
    }
    Json.write(response, problems.isEmpty() ? 200 : 503, body, callback);
  }
}
