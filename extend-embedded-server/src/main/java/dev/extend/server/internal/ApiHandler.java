package dev.extend.server.internal;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.extend.ContainerName;
import dev.extend.EgressPolicy;
import dev.extend.IssuedToken;
import dev.extend.Limits;
import dev.extend.ModuleRef;
import dev.extend.ModuleStatus;
import dev.extend.NodeRuntime;
import dev.extend.NotFoundException;
import dev.extend.Page;
import dev.extend.PayloadTooLargeException;
import dev.extend.PutResult;
import dev.extend.ServerlessPlatform;
import dev.extend.ValidationException;
import dev.extend.VersionMismatchException;
import dev.extend.Webhook;
import dev.extend.WebhookName;
import dev.extend.WebhookRef;
import dev.extend.WebhookSpec;
import dev.extend.server.internal.ApiBodies.EgressBody;
import dev.extend.server.internal.ApiBodies.LimitsBody;
import dev.extend.server.internal.ApiBodies.TokenBody;
import dev.extend.server.internal.ApiBodies.WebhookBody;
import dev.extend.server.internal.Auth.Principal;
import java.io.IOException;
import java.io.InputStream;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.Set;
import java.util.TreeSet;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.Fields;

/**
 * The management API under {@code /api/v1}: webhooks, containers and their egress policies,
 * modules, tokens, log streams and the OpenAPI document. Every route is one entry of {@link #ROUTES}, which the served OpenAPI
 * document is checked against.
 */
public final class ApiHandler {
  /** Prefix of every management route. */
  public static final String PREFIX = "/api/v1";

  private static final int DEFAULT_PAGE = 100;
  private static final int MAX_PAGE = 1000;

  /** What a route does once matched and authenticated. */
  @FunctionalInterface
  private interface Action {
    void serve(Call call) throws Exception;
  }

  /** One route: method, template ({@code {x}} segments are parameters), access, action. */
  private record Route(String method, String template, Access access, Action action) {
    List<String> parts() {
      return List.of(template.substring(1).split("/"));
    }
  }

  private enum Access { PUBLIC, TOKEN, ADMIN }

  /** A matched request. */
  private record Call(Request request, Response response, Callback callback,
      Map<String, String> params, Principal principal) {
    String param(String name) {
      return params.get(name);
    }
  }

  /** Every route of the API as {@code METHOD /api/v1/...template}, for the OpenAPI check. */
  public static final List<String> ROUTES;

  private final ServerlessPlatform platform;
  private final Auth auth;
  private final LogStreams logs;
  private final long maxBody;
  private final byte[] openApi;
  private final List<Route> routes;

  static {
    ROUTES = new ApiHandler(null, null, null, 0, new byte[0]).routes.stream()
        .map(r -> r.method() + " " + r.template()).toList();
  }

  /**
   * Creates the API.
   *
   * @param platform the platform managed
   * @param auth authenticates callers
   * @param logs serves log streams
   * @param maxBody largest request body accepted, in bytes
   * @param openApi the OpenAPI document served at {@code /api/v1/openapi.json}
   */
  public ApiHandler(ServerlessPlatform platform, Auth auth, LogStreams logs, long maxBody, byte[] openApi) {
    this.platform = platform;
    this.auth = auth;
    this.logs = logs;
    this.maxBody = maxBody;
    this.openApi = openApi;
    String w = PREFIX + "/containers/{container}/webhooks";
    this.routes = List.of(
        new Route("GET", PREFIX + "/openapi.json", Access.PUBLIC,
            c -> Json.write(c.response(), 200, openApi, c.callback())),
        new Route("GET", w, Access.TOKEN, this::listWebhooks),
        new Route("GET", w + "/{name}", Access.TOKEN, this::getWebhook),
        new Route("PUT", w + "/{name}", Access.TOKEN, this::putWebhook),
        new Route("DELETE", w + "/{name}", Access.TOKEN, this::deleteWebhook),
        new Route("DELETE", PREFIX + "/containers/{container}", Access.ADMIN, this::deleteContainer),
        new Route("GET", PREFIX + "/containers/{container}/logs", Access.TOKEN, this::streamLogs),
        // Where a tenant's code may connect is the operator's decision, not the tenant's.
        new Route("GET", PREFIX + "/containers/{container}/egress", Access.ADMIN, this::getEgress),
        new Route("PUT", PREFIX + "/containers/{container}/egress", Access.ADMIN, this::putEgress),
        new Route("DELETE", PREFIX + "/containers/{container}/egress", Access.ADMIN, this::deleteEgress),
        // The list shows every tenant's dependencies: admins only. A container token sees a
        // module (and its build log) only when one of its containers' webhooks depends on it.
        new Route("GET", PREFIX + "/runtimes", Access.TOKEN, this::listRuntimes),
        new Route("GET", PREFIX + "/modules", Access.ADMIN, this::listModules),
        new Route("GET", PREFIX + "/modules/{module}/{version}", Access.TOKEN, this::getModule),
        new Route("POST", PREFIX + "/modules/{module}/{version}/retry", Access.ADMIN, this::retryModule),
        new Route("POST", PREFIX + "/tokens", Access.ADMIN, this::createToken),
        new Route("DELETE", PREFIX + "/tokens/{id}", Access.ADMIN, this::revokeToken));
  }

  /** Serves a request whose path starts with {@link #PREFIX}; always completes the callback. */
  public void handle(Request request, Response response, Callback callback) {
    try {
      List<String> segments = Paths.segments(request.getHttpURI().getPath());
      String method = request.getMethod();
      Set<String> allowed = new TreeSet<>();
      for (Route route : routes) {
        Map<String, String> params = match(route, segments);
        if (params == null) {
          continue;
        }
        if (!route.method().equals(method)) {
          allowed.add(route.method());
          continue;
        }
        Principal principal = null;
        if (route.access() != Access.PUBLIC) {
          principal = auth.authenticate(request);
          if (route.access() == Access.ADMIN) {
            principal.requireAdmin();
          }
          String container = params.get("container");
          if (container != null) {
            principal.requireContainer(ContainerName.of(container));
          }
        }
        route.action().serve(new Call(request, response, callback, params, principal));
        return;
      }
      if (!allowed.isEmpty()) {
        response.getHeaders().put(HttpHeader.ALLOW, String.join(", ", allowed));
        Json.write(response, 405, Json.error("method_not_allowed",
            method + " is not allowed here; allowed: " + String.join(", ", allowed)), callback);
        return;
      }
      throw new NotFoundException("no such route: " + method + " " + request.getHttpURI().getPath());
    } catch (Throwable t) {
      Errors.send(response, callback, t);
    }
  }

  private static Map<String, String> match(Route route, List<String> segments) {
    List<String> parts = route.parts();
    if (parts.size() != segments.size()) {
      return null;
    }
    Map<String, String> params = null;
    for (int i = 0; i < parts.size(); i++) {
      String p = parts.get(i);
      String s = segments.get(i);
      if (p.startsWith("{")) {
        if (s.isEmpty()) {
          return null;
        }
        if (params == null) {
          params = new java.util.HashMap<>(4);
        }
        params.put(p.substring(1, p.length() - 1), s);
      } else if (!p.equals(s)) {
        return null;
      }
    }
    return params == null ? Map.of() : params;
  }

  // ---- webhooks ---------------------------------------------------------------------------

  private static WebhookRef ref(Call c) {
    return new WebhookRef(ContainerName.of(c.param("container")), WebhookName.of(c.param("name")));
  }

  private void listWebhooks(Call c) {
    Fields q = Request.extractQueryParameters(c.request());
    int limit = limit(q);
    Page<Webhook> page = platform.list(ContainerName.of(c.param("container")), limit, q.getValue("cursor"));
    ObjectNode root = Json.MAPPER.createObjectNode();
    ArrayNode items = root.putArray("items");
    for (Webhook w : page.items()) {
      items.add(webhookJson(w, false, null));
    }
    root.put("nextCursor", page.nextCursor());
    Json.write(c.response(), 200, root, c.callback());
  }

  private void getWebhook(Call c) {
    WebhookRef ref = ref(c);
    Webhook w = platform.get(ref).orElseThrow(() -> new NotFoundException("webhook " + ref + " does not exist"));
    List<ModuleStatus> modules = new ArrayList<>(w.dependencies().size());
    List<ModuleRef> builds = new ArrayList<>(w.dependencies().size());
    int abi = platform.runtimes().stream().filter(r -> r.name().equals(w.runtime())).mapToInt(NodeRuntime::abi)
        .findFirst().orElse(platform.defaultRuntime().abi());
    for (ModuleRef m : w.dependencies()) {
      builds.add(m.forAbi(abi));
      modules.add(platform.module(m.forAbi(abi)).orElse(null));
    }
    c.response().getHeaders().put(HttpHeader.ETAG, etag(w.version()));
    Json.write(c.response(), 200, webhookJson(w, true, modulesJson(builds, modules)), c.callback());
  }

  private void putWebhook(Call c) throws IOException {
    WebhookRef ref = ref(c);
    OptionalLong expected = ifMatch(c.request(), ref);
    WebhookBody body = Json.parse(readBody(c.request()), WebhookBody.class);
    WebhookSpec spec = new WebhookSpec(body.code(), body.dependencies(), body.secrets(), body.meta(),
        limits(body.limits()), body.runtime());
    PutResult result;
    if (expected.isPresent()) {
      try {
        result = platform.put(ref, spec, expected.getAsLong());
      } catch (NotFoundException e) {
        throw new VersionMismatchException("webhook " + ref + " does not exist (If-Match was given)");
      }
    } else {
      result = platform.put(ref, spec);
    }
    Webhook w = result.webhook();
    List<ModuleRef> refs = result.modules().stream().map(ModuleStatus::module).toList();
    c.response().getHeaders().put(HttpHeader.ETAG, etag(w.version()));
    if (result.created()) {
      c.response().getHeaders().put(HttpHeader.LOCATION,
          PREFIX + "/containers/" + ref.container() + "/webhooks/" + ref.name());
    }
    Json.write(c.response(), result.created() ? 201 : 200,
        webhookJson(w, true, modulesJson(refs, result.modules())), c.callback());
  }

  private void deleteWebhook(Call c) {
    WebhookRef ref = ref(c);
    OptionalLong expected = ifMatch(c.request(), ref);
    boolean existed;
    if (expected.isPresent()) {
      try {
        existed = platform.delete(ref, expected.getAsLong());
      } catch (NotFoundException e) {
        existed = false;
      }
      if (!existed) {
        throw new VersionMismatchException("webhook " + ref + " does not exist (If-Match was given)");
      }
    } else {
      existed = platform.delete(ref);
    }
    if (!existed) {
      throw new NotFoundException("webhook " + ref + " does not exist");
    }
    c.response().setStatus(204);
    c.callback().succeeded();
  }

  private void deleteContainer(Call c) {
    platform.deleteContainer(ContainerName.of(c.param("container")));
    // its tokens were revoked: none may still be trusted from the run path's cache
    auth.forgetAll();
    c.response().setStatus(204);
    c.callback().succeeded();
  }

  /** Each limit is optional (absent or null: the platform's default); {@link Limits} checks the ranges. */
  private static Limits limits(LimitsBody body) {
    if (body == null) {
      return null;
    }
    return new Limits(body.timeoutMs() == null ? null : Duration.ofMillis(body.timeoutMs()), body.memoryMb());
  }

  /** {@code If-Match: "<version>"}: the version the caller expects, or empty when absent. */
  private OptionalLong ifMatch(Request request, WebhookRef ref) {
    String v = request.getHeaders().get(HttpHeader.IF_MATCH);
    if (v == null) {
      return OptionalLong.empty();
    }
    v = v.trim();
    if (v.equals("*")) {
      Webhook w = platform.get(ref).orElseThrow(
          () -> new VersionMismatchException("webhook " + ref + " does not exist (If-Match: *)"));
      return OptionalLong.of(w.version());
    }
    if (v.startsWith("W/")) {
      v = v.substring(2);
    }
    if (v.length() >= 2 && v.startsWith("\"") && v.endsWith("\"")) {
      v = v.substring(1, v.length() - 1);
    }
    try {
      long version = Long.parseLong(v);
      if (version < 1) {
        throw new NumberFormatException();
      }
      return OptionalLong.of(version);
    } catch (NumberFormatException e) {
      throw new ValidationException("If-Match", "must be a version in quotes, e.g. \"3\"");
    }
  }

  private static String etag(long version) {
    return "\"" + version + "\"";
  }

  ObjectNode webhookJson(Webhook w, boolean withCode, ArrayNode modules) {
    ObjectNode n = Json.MAPPER.createObjectNode();
    n.put("container", w.ref().container().value());
    n.put("name", w.ref().name().value());
    if (withCode) {
      n.put("code", w.code());
    }
    ObjectNode deps = n.putObject("dependencies");
    for (ModuleRef m : w.dependencies()) {
      deps.put(m.name(), m.version());
    }
    ArrayNode secrets = n.putArray("secrets");
    new TreeSet<>(w.secretNames()).forEach(secrets::add);
    ObjectNode meta = n.putObject("meta");
    new java.util.TreeMap<>(w.meta()).forEach(meta::put);
    ObjectNode limits = n.putObject("limits");
    limits.put("timeoutMs", w.limits().timeoutMs());
    limits.put("memoryMb", w.limits().memoryMb());
    n.put("runtime", w.runtime());
    n.put("version", w.version());
    n.put("createdAt", w.createdAt().toString());
    n.put("updatedAt", w.updatedAt().toString());
    if (modules != null) {
      n.set("modules", modules);
    }
    return n;
  }

  private ArrayNode modulesJson(List<ModuleRef> refs, List<ModuleStatus> states) {
    ArrayNode arr = Json.MAPPER.createArrayNode();
    for (int i = 0; i < refs.size(); i++) {
      ModuleStatus s = states.get(i);
      ObjectNode n = arr.addObject();
      n.put("name", refs.get(i).name());
      n.put("version", refs.get(i).version());
      n.put("state", s == null ? "unknown" : s.state().wire());
      putAbi(n, refs.get(i).abi());
    }
    return arr;
  }

  /** The build's ABI and the platform's runtimes of that ABI. */
  private void putAbi(ObjectNode n, int abi) {
    n.put("abi", abi);
    ArrayNode names = n.putArray("runtimes");
    for (NodeRuntime r : platform.runtimes()) {
      if (r.abi() == abi) {
        names.add(r.name());
      }
    }
  }

  // ---- runtimes ---------------------------------------------------------------------------

  private void listRuntimes(Call c) {
    ObjectNode root = Json.MAPPER.createObjectNode();
    ArrayNode items = root.putArray("items");
    String def = platform.defaultRuntime().name();
    for (NodeRuntime r : platform.runtimes()) {
      ObjectNode n = items.addObject();
      n.put("name", r.name());
      n.put("nodeVersion", r.nodeVersion());
      n.put("npmVersion", r.npmVersion());
      n.put("abi", r.abi());
      n.put("state", r.state().json());
      n.put("default", r.name().equals(def));
    }
    root.put("default", def);
    Json.write(c.response(), 200, root, c.callback());
  }

  // ---- egress -----------------------------------------------------------------------------

  private void getEgress(Call c) {
    ContainerName container = ContainerName.of(c.param("container"));
    EgressPolicy stored = platform.storedEgressPolicy(container).orElse(null);
    Json.write(c.response(), 200, egressJson(stored), c.callback());
  }

  private void putEgress(Call c) throws IOException {
    ContainerName container = ContainerName.of(c.param("container"));
    EgressBody body = Json.parse(readBody(c.request()), EgressBody.class);
    if (body.mode() == null) {
      throw new ValidationException("mode", "is required: public, none or allowlist");
    }
    EgressPolicy policy = EgressPolicy.of(body.mode(), body.allow());
    platform.setEgressPolicy(container, policy);
    Json.write(c.response(), 200, egressJson(policy), c.callback());
  }

  private void deleteEgress(Call c) {
    platform.resetEgressPolicy(ContainerName.of(c.param("container")));
    c.response().setStatus(204);
    c.callback().succeeded();
  }

  /**
   * A container's egress policy as the API shows it: its own (or, with {@code default}, the
   * platform's default mode and no entries), the platform's entries, and whether the runtime
   * enforces policies at all.
   */
  private ObjectNode egressJson(EgressPolicy stored) {
    EgressPolicy platformPolicy = platform.platformEgressPolicy();
    ObjectNode n = Json.MAPPER.createObjectNode();
    n.put("mode", (stored == null ? platformPolicy.mode() : stored.mode()).wireName());
    ArrayNode allow = n.putArray("allow");
    if (stored != null) {
      stored.allowStrings().forEach(allow::add);
    }
    n.put("default", stored == null);
    ArrayNode platformAllow = n.putArray("platformAllow");
    platformPolicy.allowStrings().forEach(platformAllow::add);
    n.put("enforced", platform.enforcesEgress());
    return n;
  }

  // ---- modules ----------------------------------------------------------------------------

  /** The module of the path, built for the {@code runtime} of the query (default: the platform's). */
  private ModuleRef moduleRef(Call c) {
    String name = c.param("module");
    String version = c.param("version");
    ModuleRef ref;
    try {
      ref = new ModuleRef(name, version);
    } catch (ValidationException e) {
      String problem = e.getMessage().substring(e.getMessage().indexOf(": ") + 2);
      throw new ValidationException("module", problem);
    }
    String runtime = Request.extractQueryParameters(c.request()).getValue("runtime");
    return platform.build(ref, runtime);
  }

  private void listModules(Call c) {
    Fields q = Request.extractQueryParameters(c.request());
    Page<ModuleStatus> page = platform.modules(limit(q), q.getValue("cursor"));
    ObjectNode root = Json.MAPPER.createObjectNode();
    ArrayNode items = root.putArray("items");
    for (ModuleStatus m : page.items()) {
      items.add(moduleJson(m, false));
    }
    root.put("nextCursor", page.nextCursor());
    Json.write(c.response(), 200, root, c.callback());
  }

  private void getModule(Call c) {
    ModuleRef ref = moduleRef(c);
    NotFoundException unknown = new NotFoundException("module " + ref + " is not known (no webhook asked for it)");
    // To a container token, a module no webhook of its containers depends on does not exist:
    // its log may name another tenant's registry, and its existence what another tenant uses.
    if (!c.principal().admin() && !dependsOn(c.principal().containers(), ref)) {
      throw unknown;
    }
    ModuleStatus status = platform.module(ref).orElseThrow(() -> unknown);
    Json.write(c.response(), 200, moduleJson(status, true), c.callback());
  }

  /** Whether a webhook of one of {@code containers} depends on {@code module}. */
  private boolean dependsOn(Set<ContainerName> containers, ModuleRef module) {
    for (ContainerName container : containers) {
      String cursor = null;
      do {
        Page<Webhook> page = platform.list(container, MAX_PAGE, cursor);
        for (Webhook w : page.items()) {
          if (w.dependencies().contains(module.unbound())) {
            return true;
          }
        }
        cursor = page.nextCursor();
      } while (cursor != null);
    }
    return false;
  }

  private void retryModule(Call c) {
    ModuleStatus status = platform.retryModule(moduleRef(c));
    Json.write(c.response(), 202, moduleJson(status, true), c.callback());
  }

  private ObjectNode moduleJson(ModuleStatus m, boolean withLog) {
    ObjectNode n = Json.MAPPER.createObjectNode();
    n.put("name", m.module().name());
    n.put("version", m.module().version());
    n.put("state", m.state().wire());
    putAbi(n, m.module().abi());
    if (withLog) {
      n.put("log", m.log());
    }
    return n;
  }

  // ---- tokens -----------------------------------------------------------------------------

  private void createToken(Call c) throws IOException {
    TokenBody body = Json.parse(readBody(c.request()), TokenBody.class);
    if (body.containers() == null) {
      throw new ValidationException("containers",
          "is required: the containers the token grants ([] for an admin token)");
    }
    Set<ContainerName> containers = new LinkedHashSet<>();
    for (int i = 0; i < body.containers().size(); i++) {
      String name = body.containers().get(i);
      try {
        containers.add(ContainerName.of(name));
      } catch (ValidationException e) {
        throw new ValidationException("containers[" + i + "]",
            e.getMessage().substring(e.getMessage().indexOf(": ") + 2));
      }
    }
    String description = body.description() == null ? "" : body.description();
    if (description.length() > 256) {
      throw new ValidationException("description", "must be at most 256 characters");
    }
    IssuedToken token = platform.createToken(containers, description);
    ObjectNode n = Json.MAPPER.createObjectNode();
    n.put("id", token.id());
    n.put("token", token.token());
    ArrayNode arr = n.putArray("containers");
    containers.forEach(cn -> arr.add(cn.value()));
    n.put("description", description);
    Json.write(c.response(), 201, n, c.callback());
  }

  private void revokeToken(Call c) {
    String id = c.param("id");
    if (!platform.revokeToken(id)) {
      throw new NotFoundException("token " + id + " does not exist or is already revoked");
    }
    auth.revoked(id);
    logs.closeToken(id);
    c.response().setStatus(204);
    c.callback().succeeded();
  }

  // ---- logs -------------------------------------------------------------------------------

  private void streamLogs(Call c) {
    Fields q = Request.extractQueryParameters(c.request());
    int replay = intParam(q, "replay", 100, 0, 10_000);
    logs.stream(ContainerName.of(c.param("container")), replay, c.principal(), auth.revocableBearer(c.request()),
        c.request(), c.response(), c.callback());
  }

  // ---- utilities --------------------------------------------------------------------------

  private static int limit(Fields q) {
    return intParam(q, "limit", DEFAULT_PAGE, 1, MAX_PAGE);
  }

  private static int intParam(Fields q, String name, int dflt, int min, int max) {
    String v = q.getValue(name);
    if (v == null || v.isEmpty()) {
      return dflt;
    }
    try {
      int n = Integer.parseInt(v);
      if (n < min || n > max) {
        throw new NumberFormatException();
      }
      return n;
    } catch (NumberFormatException e) {
      throw new ValidationException(name, "must be an integer from " + min + " to " + max);
    }
  }

  /** Reads a management request body, refusing it beyond the cap without reading further. */
  private byte[] readBody(Request request) throws IOException {
    long length = request.getLength();
    if (length > maxBody) {
      throw new PayloadTooLargeException("request body exceeds the limit of " + maxBody + " bytes");
    }
    try (InputStream in = Request.asInputStream(request)) {
      byte[] bytes = in.readNBytes((int) Math.min(Integer.MAX_VALUE - 8, maxBody + 1));
      if (bytes.length > maxBody) {
        throw new PayloadTooLargeException("request body exceeds the limit of " + maxBody + " bytes");
      }
      return bytes;
    } catch (IOException e) {
      dev.extend.ExtendException slow = RequestBodyGuard.failure(request);
      if (slow != null) {
        throw slow;
      }
      throw new ValidationException("body", "the request body could not be read");
    }
  }
}
