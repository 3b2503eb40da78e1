package dev.extend.modulebuild;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Proxy;
import java.net.ProxySelector;
import java.net.SocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The registries builds install from, and their credentials, as the host's registry proxy uses
 * them: a default registry, per-scope registries ({@code @corp:registry=...}) and credentials
 * per registry path ({@code //host[:port]/path/:_authToken=...}, {@code :_auth=...}, {@code
 * :username=} with {@code :_password=} in base64), read from npmrc text with npm's {@code
 * ${VAR}} expansion. Nothing of this reaches the build jobs. Other npmrc settings are ignored.
 */
final class Upstreams {
  private static final Pattern VAR = Pattern.compile("\\$\\{([A-Za-z_][A-Za-z0-9_]*)\\}");

  private final URI defaultRegistry;
  private final Map<String, URI> scopeRegistries;
  /** nerf dart ("//host:port/path/") -> Authorization header value. */
  private final Map<String, String> credentials;

  private Upstreams(URI defaultRegistry, Map<String, URI> scopeRegistries, Map<String, String> credentials) {
    this.defaultRegistry = defaultRegistry;
    this.scopeRegistries = Map.copyOf(scopeRegistries);
    this.credentials = Map.copyOf(credentials);
  }

  /**
   * Reads npmrc text; {@code registry}, when not null, overrides its {@code registry=} line.
   *
   * @param defaultRegistry supplies the registry when neither names one (npm's own default)
   */
  static Upstreams parse(String npmrc, URI registry, Function<String, String> env,
      java.util.function.Supplier<URI> defaultRegistry) {
    Map<String, String> settings = new LinkedHashMap<>();
    for (String raw : npmrc.split("\r?\n")) {
      String line = raw.strip();
      if (line.isEmpty() || line.startsWith("#") || line.startsWith(";")) {
        continue;
      }
      int eq = line.indexOf('=');
      if (eq <= 0) {
        continue;
      }
      String value = line.substring(eq + 1).strip();
      if (value.length() >= 2 && (value.startsWith("\"") && value.endsWith("\"")
          || value.startsWith("'") && value.endsWith("'"))) {
        value = value.substring(1, value.length() - 1);
      }
      settings.put(expand(line.substring(0, eq).strip(), env), expand(value, env));
    }
    URI main = registry != null ? registry
        : settings.containsKey("registry") ? registryUri("registry", settings.get("registry")) : null;
    Map<String, URI> scopes = new LinkedHashMap<>();
    Map<String, String> users = new LinkedHashMap<>();
    Map<String, String> passwords = new LinkedHashMap<>();
    Map<String, String> creds = new LinkedHashMap<>();
    String globalAuth = null;
    for (Map.Entry<String, String> e : settings.entrySet()) {
      String key = e.getKey();
      String value = e.getValue();
      if (key.startsWith("@") && key.endsWith(":registry")) {
        String scope = key.substring(1, key.length() - ":registry".length()).toLowerCase(Locale.ROOT);
        scopes.put(scope, registryUri(key, value));
      } else if (key.startsWith("//")) {
        int colon = key.lastIndexOf(':');
        if (colon < 0) {
          continue;
        }
        String dart = withSlash(key.substring(0, colon));
        switch (key.substring(colon + 1)) {
          case "_authToken" -> creds.put(dart, "Bearer " + value);
          case "_auth" -> creds.put(dart, "Basic " + value);
          case "username" -> users.put(dart, value);
          case "_password" -> passwords.put(dart, value);
          default -> { }
        }
      } else if (key.equals("_authToken")) {
        globalAuth = "Bearer " + value;
      } else if (key.equals("_auth")) {
        globalAuth = "Basic " + value;
      }
    }
    users.forEach((dart, user) -> {
      String pw = passwords.get(dart);
      if (pw != null && !creds.containsKey(dart)) {
        String plain = new String(Base64.getDecoder().decode(pw), StandardCharsets.UTF_8);
        creds.put(dart, "Basic " + Base64.getEncoder().encodeToString((user + ":" + plain)
            .getBytes(StandardCharsets.UTF_8)));
      }
    });
    if (main == null) {
      main = defaultRegistry.get();
    }
    if (globalAuth != null) {
      creds.putIfAbsent(nerfDart(main), globalAuth);
    }
    return new Upstreams(main, scopes, creds);
  }

  private static String expand(String s, Function<String, String> env) {
    Matcher m = VAR.matcher(s);
    StringBuilder sb = new StringBuilder();
    while (m.find()) {
      String v = env.apply(m.group(1));
      m.appendReplacement(sb, Matcher.quoteReplacement(v == null ? "" : v));
    }
    m.appendTail(sb);
    return sb.toString();
  }

  static URI registryUri(String setting, String value) {
    URI u;
    try {
      u = URI.create(withSlash(value));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(setting + " must be an http or https URL");
    }
    if (!("http".equals(u.getScheme()) || "https".equals(u.getScheme())) || u.getHost() == null
        || u.getRawQuery() != null || u.getRawFragment() != null) {
      throw new IllegalArgumentException(setting + " must be an http or https URL, was " + value);
    }
    return u;
  }

  private static String withSlash(String s) {
    return s.endsWith("/") ? s : s + "/";
  }

  /** npm's key of a URL: "//host[:port]/path/" (no scheme). */
  static String nerfDart(URI u) {
    String path = u.getRawPath() == null || u.getRawPath().isEmpty() ? "/" : u.getRawPath();
    return "//" + u.getHost().toLowerCase(Locale.ROOT) + (u.getPort() < 0 ? "" : ":" + u.getPort()) + path;
  }

  /** The registry packages of {@code scope} (without '@', or null) come from. */
  URI registryFor(String scope) {
    return scope == null ? defaultRegistry : scopeRegistries.getOrDefault(scope, defaultRegistry);
  }

  URI defaultRegistry() {
    return defaultRegistry;
  }

  /** The Authorization header for a request to {@code url}: the credentials of the longest matching registry path. */
  Optional<String> authorization(URI url) {
    String dart = nerfDart(url);
    String best = null;
    for (String key : credentials.keySet()) {
      if (dart.startsWith(key) && (best == null || key.length() > best.length())) {
        best = key;
      }
    }
    return Optional.ofNullable(best == null ? null : credentials.get(best));
  }

  /**
   * A proxy selector for the upstream requests after the host's {@code HTTPS_PROXY}, {@code
   * HTTP_PROXY} and {@code NO_PROXY} (either case), or null for direct connections.
   */
  static ProxySelector proxySelector(Function<String, String> env) {
    URI https = proxyUri(first(env, "HTTPS_PROXY", "https_proxy"));
    URI http = proxyUri(first(env, "HTTP_PROXY", "http_proxy"));
    if (https == null && http == null) {
      return null;
    }
    List<String> noProxy = new ArrayList<>();
    String np = first(env, "NO_PROXY", "no_proxy");
    if (np != null) {
      for (String p : np.split(",")) {
        if (!p.isBlank()) {
          noProxy.add(p.strip().toLowerCase(Locale.ROOT));
        }
      }
    }
    return new ProxySelector() {
      @Override
      public List<Proxy> select(URI uri) {
        URI p = "https".equals(uri.getScheme()) ? (https != null ? https : http) : http;
        if (p == null || bypass(uri.getHost())) {
          return List.of(Proxy.NO_PROXY);
        }
        int port = p.getPort() > 0 ? p.getPort() : "https".equals(p.getScheme()) ? 443 : 80;
        return List.of(new Proxy(Proxy.Type.HTTP, InetSocketAddress.createUnresolved(p.getHost(), port)));
      }

      private boolean bypass(String host) {
        String h = host == null ? "" : host.toLowerCase(Locale.ROOT);
        for (String n : noProxy) {
          if (n.equals("*")) {
            return true;
          }
          String suffix = n.startsWith(".") ? n : "." + n;
          String bare = n.startsWith(".") ? n.substring(1) : n;
          if (h.equals(bare) || h.endsWith(suffix)) {
            return true;
          }
        }
        return false;
      }

      @Override
      public void connectFailed(URI uri, SocketAddress sa, IOException ioe) {}
    };
  }

  private static String first(Function<String, String> env, String... names) {
    for (String n : names) {
      String v = env.apply(n);
      if (v != null && !v.isBlank()) {
        return v.strip();
      }
    }
    return null;
  }

  private static URI proxyUri(String value) {
    if (value == null) {
      return null;
    }
    try {
      URI u = URI.create(value.contains("://") ? value : "http://" + value);
      return u.getHost() == null ? null : u;
    } catch (IllegalArgumentException e) {
      return null;
    }
  }
}
