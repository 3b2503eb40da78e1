package dev.extend.server;

import java.io.IOException;
import java.io.Reader;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;

/**
 * The standalone server's settings: a properties file ({@code --config <file>} or
 * {@code EXTEND_CONFIG}) overlaid by environment variables, which win. In the file a setting
 * may be written {@code extend.jdbc.url} or {@code EXTEND_JDBC_URL}; both mean the same.
 */
final class StandaloneConfig {
  /** Every setting, with its default (null: none). */
  static final Map<String, String> DEFAULTS;

  static {
    Map<String, String> d = new LinkedHashMap<>();
    d.put("EXTEND_PORT", "8080");
    d.put("EXTEND_HOST", "0.0.0.0");
    d.put("EXTEND_DATA_DIR", "./extend-data");
    d.put("EXTEND_ADMIN_TOKEN", null);
    d.put("EXTEND_RUNTIME", "auto");
    d.put("EXTEND_CONTAINERD_SOCKET", "/run/containerd/containerd.sock");
    d.put("EXTEND_EGRESS_DNS", null);
    d.put("EXTEND_EGRESS_CA_CERTS", null);
    d.put("EXTEND_EGRESS_BRIDGE", "extend0");
    d.put("EXTEND_EGRESS_SUBNET", "10.213.0.0/16");
    d.put("EXTEND_JDBC_URL", null);
    d.put("EXTEND_JDBC_USER", null);
    d.put("EXTEND_JDBC_PASSWORD", null);
    d.put("EXTEND_JDBC_POOL_SIZE", null);
    d.put("EXTEND_SECRET_KEYS", null);
    d.put("EXTEND_SECRET_KEYS_FILE", null);
    d.put("EXTEND_POOL_SIZE", "2");
    d.put("EXTEND_MAX_SANDBOXES", "64");
    d.put("EXTEND_DEFAULT_TIMEOUT_MS", null);
    d.put("EXTEND_DEFAULT_MEMORY_MB", null);
    d.put("EXTEND_MAX_TIMEOUT_MS", null);
    d.put("EXTEND_MAX_MEMORY_MB", null);
    d.put("EXTEND_DEFAULT_RUNTIME", dev.extend.NodeRuntime.DEFAULT);
    d.put("EXTEND_RUNTIME_STATES", null);
    d.put("EXTEND_RUNTIME_TARBALLS", null);
    d.put("EXTEND_RUNTIMES_DIR", null);
    d.put("EXTEND_NODE_ID", null);
    d.put("EXTEND_BUILD_WORKERS", "1");
    d.put("EXTEND_NPM_REGISTRY", null);
    d.put("EXTEND_RUN_REQUIRES_TOKEN", "false");
    d.put("EXTEND_HOST_DOMAIN", null);
    d.put("EXTEND_MAX_REQUEST_BODY_BYTES", null);
    d.put("EXTEND_DRAIN_SECONDS", "30");
    d.put("EXTEND_MANAGEMENT_PORT", null);
    d.put("EXTEND_MANAGEMENT_HOST", null);
    d.put("EXTEND_MAX_THREADS", "400");
    d.put("EXTEND_MANAGEMENT_THREADS", "32");
    d.put("EXTEND_MAX_CONNECTIONS", "4096");
    d.put("EXTEND_MAX_CONNECTIONS_PER_ADDRESS", "256");
    d.put("EXTEND_IDLE_TIMEOUT_SECONDS", "30");
    d.put("EXTEND_MIN_REQUEST_DATA_RATE", "1024");
    d.put("EXTEND_REQUEST_BODY_TIMEOUT_SECONDS", "60");
    d.put("EXTEND_OPERATOR_DATA_PUBLIC", "false");
    d.put("EXTEND_SANDBOX_PATH_ROUTED", "true");
    d.put("EXTEND_TRUSTED_PROXIES", null);
    d.put("EXTEND_LOG_STREAMS_MAX", "256");
    d.put("EXTEND_LOG_STREAMS_PER_TOKEN", "8");
    d.put("EXTEND_LOG_STREAMS_PER_CONTAINER", "32");
    d.put("EXTEND_EGRESS", "public");
    d.put("EXTEND_EGRESS_ALLOW", null);
    DEFAULTS = java.util.Collections.unmodifiableMap(d);
  }

  private static final Set<String> SECRET = Set.of("EXTEND_ADMIN_TOKEN", "EXTEND_JDBC_PASSWORD", "EXTEND_SECRET_KEYS");

  private final Map<String, String> values;
  private final Map<String, String> sources;

  private StandaloneConfig(Map<String, String> values, Map<String, String> sources) {
    this.values = values;
    this.sources = sources;
  }

  /**
   * Loads the settings.
   *
   * @param args command-line arguments ({@code --config <file>})
   * @param env the environment
   * @throws IllegalArgumentException naming the setting or argument at fault
   */
  static StandaloneConfig load(List<String> args, Map<String, String> env) throws IOException {
    Path file = null;
    for (int i = 0; i < args.size(); i++) {
      String a = args.get(i);
      if (a.equals("--config") && i + 1 < args.size()) {
        file = Path.of(args.get(++i));
      } else if (a.startsWith("--config=")) {
        file = Path.of(a.substring("--config=".length()));
      } else {
        throw new IllegalArgumentException("unknown argument '" + a + "' (usage: [--config <file>])");
      }
    }
    if (file == null && env.get("EXTEND_CONFIG") != null && !env.get("EXTEND_CONFIG").isBlank()) {
      file = Path.of(env.get("EXTEND_CONFIG"));
    }
    Map<String, String> values = new LinkedHashMap<>(DEFAULTS);
    Map<String, String> sources = new LinkedHashMap<>();
    DEFAULTS.keySet().forEach(k -> sources.put(k, "default"));
    if (file != null) {
      Properties p = new Properties();
      try (Reader r = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
        p.load(r);
      } catch (java.nio.file.NoSuchFileException e) {
        throw new IllegalArgumentException("configuration file " + file + " does not exist");
      }
      Set<String> unknown = new TreeSet<>();
      for (String name : p.stringPropertyNames()) {
        String key = normalize(name);
        if (!DEFAULTS.containsKey(key)) {
          unknown.add(name);
          continue;
        }
        values.put(key, p.getProperty(name).strip());
        sources.put(key, file.toString());
      }
      if (!unknown.isEmpty()) {
        throw new IllegalArgumentException("unknown settings in " + file + ": " + unknown
            + " (known: " + DEFAULTS.keySet() + ")");
      }
    }
    for (String key : DEFAULTS.keySet()) {
      String v = env.get(key);
      if (v != null) {
        values.put(key, v.strip());
        sources.put(key, "environment");
      }
    }
    values.replaceAll((k, v) -> v == null || v.isEmpty() ? null : v);
    StandaloneConfig c = new StandaloneConfig(values, sources);
    c.validate();
    return c;
  }

  /** {@code extend.jdbc.url} → {@code EXTEND_JDBC_URL}. */
  static String normalize(String name) {
    return name.strip().replace('.', '_').replace('-', '_').toUpperCase(Locale.ROOT);
  }

  private void validate() {
    int port = port();
    if (port < 0 || port > 65535) {
      throw new IllegalArgumentException("EXTEND_PORT must be 0..65535, was " + port);
    }
    String runtime = runtime();
    if (!List.of("auto", "containerd", "local").contains(runtime)) {
      throw new IllegalArgumentException("EXTEND_RUNTIME must be auto, containerd or local, was '" + runtime + "'");
    }
    integer("EXTEND_POOL_SIZE");
    integer("EXTEND_MAX_SANDBOXES");
    integer("EXTEND_BUILD_WORKERS");
    integer("EXTEND_DRAIN_SECONDS");
    if (get("EXTEND_MANAGEMENT_PORT") != null) {
      int mp = integer("EXTEND_MANAGEMENT_PORT");
      if (mp < 0 || mp > 65535) {
        throw new IllegalArgumentException("EXTEND_MANAGEMENT_PORT must be 0..65535, was " + mp);
      }
    }
    for (String k : List.of("EXTEND_MAX_THREADS", "EXTEND_MANAGEMENT_THREADS", "EXTEND_MAX_CONNECTIONS",
        "EXTEND_MAX_CONNECTIONS_PER_ADDRESS", "EXTEND_IDLE_TIMEOUT_SECONDS", "EXTEND_MIN_REQUEST_DATA_RATE",
        "EXTEND_REQUEST_BODY_TIMEOUT_SECONDS", "EXTEND_LOG_STREAMS_MAX", "EXTEND_LOG_STREAMS_PER_TOKEN",
        "EXTEND_LOG_STREAMS_PER_CONTAINER")) {
      integer(k);
    }
    bool("EXTEND_RUN_REQUIRES_TOKEN");
    bool("EXTEND_OPERATOR_DATA_PUBLIC");
    bool("EXTEND_SANDBOX_PATH_ROUTED");
    if (get("EXTEND_MAX_REQUEST_BODY_BYTES") != null) {
      longValue("EXTEND_MAX_REQUEST_BODY_BYTES");
    }
    if (get("EXTEND_NPM_REGISTRY") != null) {
      npmRegistry();
    }
    egress();
    runtimeStates();
    dev.extend.NodeRuntime.checkName(get("EXTEND_DEFAULT_RUNTIME"));
    limits("EXTEND_DEFAULT");
    limits("EXTEND_MAX");
  }

  /**
   * Webhook limits from {@code <prefix>_TIMEOUT_MS} and {@code <prefix>_MEMORY_MB}, each optional
   * (unset: the platform's built-in value): {@code EXTEND_DEFAULT_*} for webhooks that name none,
   * {@code EXTEND_MAX_*} for the most one may ask.
   */
  dev.extend.Limits limits(String prefix) {
    String timeout = prefix + "_TIMEOUT_MS";
    String memory = prefix + "_MEMORY_MB";
    try {
      return new dev.extend.Limits(get(timeout) == null ? null : java.time.Duration.ofMillis(longValue(timeout)),
          get(memory) == null ? null : integer(memory));
    } catch (dev.extend.ValidationException e) {
      String key = e.field().endsWith("timeoutMs") ? timeout : memory;
      throw new IllegalArgumentException(key + " " + e.getMessage().replaceFirst("^limits\\.\\w+:?\\s*", ""));
    }
  }

  /**
   * {@code EXTEND_RUNTIME_STATES}: comma-separated {@code name=state} entries changing the state of
   * runtimes ({@code node20=deprecated,node18=retired}); empty by default.
   */
  Map<String, dev.extend.NodeRuntime.State> runtimeStates() {
    Map<String, dev.extend.NodeRuntime.State> out = new java.util.LinkedHashMap<>();
    String v = get("EXTEND_RUNTIME_STATES");
    if (v == null || v.isBlank()) {
      return out;
    }
    for (String part : v.split(",")) {
      String p = part.trim();
      int eq = p.indexOf('=');
      if (eq <= 0) {
        throw new IllegalArgumentException("EXTEND_RUNTIME_STATES entries are name=state, was '" + p + "'");
      }
      String name = p.substring(0, eq).trim();
      try {
        dev.extend.NodeRuntime.checkName(name);
        out.put(name, dev.extend.NodeRuntime.State.parse(p.substring(eq + 1).trim().toLowerCase(Locale.ROOT)));
      } catch (dev.extend.ValidationException e) {
        throw new IllegalArgumentException("EXTEND_RUNTIME_STATES: '" + p + "': " + e.getMessage());
      }
    }
    return out;
  }

  /**
   * The platform's egress policy: {@code EXTEND_EGRESS} (public, none or allowlist) is the mode of
   * containers without a policy of their own, {@code EXTEND_EGRESS_ALLOW} (comma-separated
   * {@code host[:port]} / {@code CIDR[:port]}) the entries every container is allowed besides.
   */
  dev.extend.EgressPolicy egress() {
    String mode = get("EXTEND_EGRESS");
    dev.extend.EgressPolicy.Mode m;
    try {
      m = dev.extend.EgressPolicy.Mode.parse("EXTEND_EGRESS", mode == null ? null : mode.toLowerCase(Locale.ROOT));
    } catch (dev.extend.ValidationException e) {
      throw new IllegalArgumentException("EXTEND_EGRESS must be public, none or allowlist, was '" + mode + "'");
    }
    try {
      return new dev.extend.EgressPolicy(m, dev.extend.EgressPolicy.parseList("EXTEND_EGRESS_ALLOW",
          get("EXTEND_EGRESS_ALLOW")));
    } catch (dev.extend.ValidationException e) {
      throw new IllegalArgumentException(e.getMessage()
          + " (EXTEND_EGRESS_ALLOW is a comma-separated list of host[:port] and CIDR[:port] entries)");
    }
  }

  /** The npm registry module builds install from, or null for npm's public registry. */
  URI npmRegistry() {
    String v = get("EXTEND_NPM_REGISTRY");
    if (v == null) {
      return null;
    }
    try {
      URI uri = new URI(v);
      if ((!"http".equals(uri.getScheme()) && !"https".equals(uri.getScheme())) || uri.getHost() == null) {
        throw new URISyntaxException(v, "not an http(s) URL");
      }
      return uri;
    } catch (URISyntaxException e) {
      throw new IllegalArgumentException("EXTEND_NPM_REGISTRY must be an http or https URL, was '"
          + dev.extend.spi.Redact.credentials(v) + "'");
    }
  }

  String get(String key) {
    if (!DEFAULTS.containsKey(key)) {
      throw new IllegalArgumentException("unknown setting " + key);
    }
    return values.get(key);
  }

  int integer(String key) {
    String v = get(key);
    try {
      return Integer.parseInt(v);
    } catch (NumberFormatException | NullPointerException e) {
      throw new IllegalArgumentException(key + " must be an integer, was '" + v + "'");
    }
  }

  long longValue(String key) {
    String v = get(key);
    try {
      return Long.parseLong(v);
    } catch (NumberFormatException | NullPointerException e) {
      throw new IllegalArgumentException(key + " must be an integer, was '" + v + "'");
    }
  }

  boolean bool(String key) {
    String v = get(key);
    if ("true".equalsIgnoreCase(v)) {
      return true;
    }
    if ("false".equalsIgnoreCase(v) || v == null) {
      return false;
    }
    throw new IllegalArgumentException(key + " must be true or false, was '" + v + "'");
  }

  int port() {
    return integer("EXTEND_PORT");
  }

  Path dataDir() {
    return Path.of(get("EXTEND_DATA_DIR")).toAbsolutePath().normalize();
  }

  String runtime() {
    return get("EXTEND_RUNTIME").toLowerCase(Locale.ROOT);
  }

  /** The management listener's port, or -1 when the API is served on the main port. */
  int managementPort() {
    return get("EXTEND_MANAGEMENT_PORT") == null ? -1 : integer("EXTEND_MANAGEMENT_PORT");
  }

  /** The trusted proxies: a comma-separated list of addresses and CIDR blocks. */
  List<String> list(String key) {
    String v = get(key);
    if (v == null) {
      return List.of();
    }
    return java.util.Arrays.stream(v.split(",")).map(String::strip).filter(x -> !x.isEmpty()).toList();
  }

  Duration seconds(String key) {
    return Duration.ofSeconds(integer(key));
  }

  Duration drain() {
    return Duration.ofSeconds(integer("EXTEND_DRAIN_SECONDS"));
  }

  /** The settings in environment form, for components that read them (JDBC storage). */
  Map<String, String> asEnvironment() {
    Map<String, String> m = new LinkedHashMap<>();
    values.forEach((k, v) -> {
      if (v != null) {
        m.put(k, v);
      }
    });
    return m;
  }

  /** The settings for the log, secrets masked, with where each came from. */
  String describe() {
    StringBuilder sb = new StringBuilder();
    values.forEach((k, v) -> {
      // URLs (the registry's, the database's) may carry credentials: user:secret@ and password=
      String shown = v == null ? "(unset)" : SECRET.contains(k) ? "****" : dev.extend.spi.Redact.credentials(v);
      sb.append("\n  ").append(k).append(" = ").append(shown).append("  [").append(sources.get(k)).append(']');
    });
    return sb.toString();
  }
}
