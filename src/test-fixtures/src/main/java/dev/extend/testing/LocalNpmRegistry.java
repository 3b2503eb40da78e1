package dev.extend.testing;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.URLDecoder;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.zip.GZIPOutputStream;

/**
 * A tiny npm registry (on 127.0.0.1 unless told otherwise) for offline tests: it answers {@code GET /<name>} with a
 * packument whose {@code dist.tarball} URLs point back to it, and serves those tarballs, so
 * {@code npm install --registry <url()>} works without network. Anything it does not hold
 * answers 404, so npm never silently falls back to the public registry.
 *
 * <p>{@link #withFixtures()} publishes the bundled fixture packages ({@link NpmFixtures}); tests
 * may {@link #publish} more. Tarballs are packed here, in memory, with a fixed time stamp.
 */
public final class LocalNpmRegistry implements AutoCloseable {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final String RESOURCES = "/dev/extend/testing/npm/";

  private final HttpServer server;
  private final ExecutorService executor;
  /** name -> version -> published version. */
  private final Map<String, Map<String, Published>> packages = new ConcurrentHashMap<>();
  private final Map<String, byte[]> tarballs = new ConcurrentHashMap<>();
  private final Map<String, AtomicInteger> tarballDownloads = new ConcurrentHashMap<>();
  private final AtomicInteger requests = new AtomicInteger();
  private final AtomicInteger authorized = new AtomicInteger();
  private volatile String token;

  private record Published(ObjectNode manifest, String tarballFile) {}

  private final InetAddress address;

  private LocalNpmRegistry(InetAddress address) throws IOException {
    this.address = address;
    server = HttpServer.create(new InetSocketAddress(address, 0), 64);
    executor = Executors.newFixedThreadPool(4, r -> {
      Thread t = new Thread(r, "local-npm-registry");
      t.setDaemon(true);
      return t;
    });
    server.setExecutor(executor);
    server.createContext("/", this::handle);
    server.start();
  }

  /** Starts an empty registry on 127.0.0.1. */
  public static LocalNpmRegistry empty() throws IOException {
    return new LocalNpmRegistry(InetAddress.getLoopbackAddress());
  }

  /** Starts a registry on 127.0.0.1 holding every bundled fixture package. */
  public static LocalNpmRegistry withFixtures() throws IOException {
    return withFixtures(InetAddress.getLoopbackAddress());
  }

  /**
   * Starts a registry holding every bundled fixture package, listening on {@code address}: e.g.
   * {@link #hostAddress()} for builds in sandboxes that have a network of their own and cannot
   * reach the host's loopback.
   */
  public static LocalNpmRegistry withFixtures(InetAddress address) throws IOException {
    LocalNpmRegistry r = new LocalNpmRegistry(address);
    try {
      r.publishBundledFixtures();
    } catch (IOException | RuntimeException e) {
      r.close();
      throw e;
    }
    return r;
  }

  /** The registry's URL, with a trailing slash, for {@code npm --registry}. */
  public URI url() {
    String host = address.getHostAddress();
    if (host.contains(":")) {
      host = "[" + host + "]";
    }
    return URI.create("http://" + host + ":" + server.getAddress().getPort() + "/");
  }

  /** This host's first non-loopback IPv4 address that is up, else the loopback address. */
  public static InetAddress hostAddress() throws IOException {
    for (java.net.NetworkInterface nic : java.util.Collections.list(java.net.NetworkInterface.getNetworkInterfaces())) {
      if (!nic.isUp() || nic.isLoopback()) {
        continue;
      }
      for (InetAddress a : java.util.Collections.list(nic.getInetAddresses())) {
        if (a instanceof java.net.Inet4Address && !a.isLoopbackAddress() && !a.isLinkLocalAddress()) {
          return a;
        }
      }
    }
    return InetAddress.getLoopbackAddress();
  }

  /**
   * Publishes a package from its files (paths relative to the package root, {@code /}-separated;
   * {@code package.json} is required and names the package and its version).
   */
  public void publish(Map<String, byte[]> files) throws IOException {
    byte[] pj = files.get("package.json");
    if (pj == null) {
      throw new IllegalArgumentException("a package needs a package.json");
    }
    ObjectNode manifest = (ObjectNode) JSON.readTree(pj);
    String name = manifest.path("name").asText();
    String version = manifest.path("version").asText();
    if (name.isEmpty() || version.isEmpty()) {
      throw new IllegalArgumentException("package.json must have name and version");
    }
    byte[] tgz = pack(files);
    String file = name.replace('/', '+') + "-" + version + ".tgz";
    tarballs.put(file, tgz);
    ObjectNode dist = manifest.putObject("dist");
    dist.put("tarball", url() + "-/tarballs/" + URLEncoder.encode(file, StandardCharsets.UTF_8));
    dist.put("shasum", HexFormat.of().formatHex(digest("SHA-1", tgz)));
    dist.put("integrity", "sha512-" + Base64.getEncoder().encodeToString(digest("SHA-512", tgz)));
    var scripts = manifest.path("scripts");
    if (scripts.has("preinstall") || scripts.has("install") || scripts.has("postinstall")) {
      manifest.put("hasInstallScript", true);
    }
    manifest.put("_id", name + "@" + version);
    packages.computeIfAbsent(name, k -> new ConcurrentHashMap<>()).put(version, new Published(manifest, file));
  }

  /** How many times the tarball of {@code name@version} was downloaded. */
  public int tarballDownloads(String name, String version) {
    AtomicInteger n = tarballDownloads.get(name.replace('/', '+') + "-" + version + ".tgz");
    return n == null ? 0 : n.get();
  }

  /**
   * From now on answers 401 to every request without {@code Authorization: Bearer <token>},
   * like a private registry.
   */
  public void requireToken(String token) {
    this.token = token;
  }

  /** Requests that carried the required token. */
  public int authorizedRequests() {
    return authorized.get();
  }

  /** Requests served so far. */
  public int requests() {
    return requests.get();
  }

  /** Stops the server. */
  @Override
  public void close() {
    server.stop(0);
    executor.shutdownNow();
  }

  private void publishBundledFixtures() throws IOException {
    Map<String, Map<String, byte[]>> byDir = new TreeMap<>();
    for (String path : resourceLines(RESOURCES + "index.txt")) {
      int slash = path.indexOf('/');
      byte[] content;
      try (InputStream in = LocalNpmRegistry.class.getResourceAsStream(RESOURCES + path)) {
        if (in == null) {
          throw new IOException("fixture file missing from the class path: " + RESOURCES + path);
        }
        content = in.readAllBytes();
      }
      byDir.computeIfAbsent(path.substring(0, slash), k -> new TreeMap<>()).put(path.substring(slash + 1), content);
    }
    for (Map<String, byte[]> files : byDir.values()) {
      publish(files);
    }
  }

  private static List<String> resourceLines(String resource) throws IOException {
    try (InputStream in = LocalNpmRegistry.class.getResourceAsStream(resource)) {
      if (in == null) {
        throw new IOException("missing resource " + resource);
      }
      List<String> lines = new ArrayList<>();
      for (String line : new String(in.readAllBytes(), StandardCharsets.UTF_8).split("\n")) {
        if (!line.isBlank()) {
          lines.add(line.strip());
        }
      }
      return lines;
    }
  }

  private void handle(HttpExchange ex) throws IOException {
    requests.incrementAndGet();
    try (ex) {
      String raw = ex.getRequestURI().getRawPath();
      String required = token;
      if (required != null) {
        if (!("Bearer " + required).equals(ex.getRequestHeaders().getFirst("Authorization"))) {
          send(ex, 401, "application/json", "{\"error\":\"authentication required\"}".getBytes(StandardCharsets.UTF_8));
          return;
        }
        authorized.incrementAndGet();
      }
      if (!"GET".equals(ex.getRequestMethod()) && !"HEAD".equals(ex.getRequestMethod())) {
        send(ex, 405, "application/json", "{\"error\":\"method not allowed\"}".getBytes(StandardCharsets.UTF_8));
        return;
      }
      if (raw.startsWith("/-/tarballs/")) {
        String file = URLDecoder.decode(raw.substring("/-/tarballs/".length()), StandardCharsets.UTF_8);
        byte[] tgz = tarballs.get(file);
        if (tgz == null) {
          notFound(ex);
          return;
        }
        tarballDownloads.computeIfAbsent(file, k -> new AtomicInteger()).incrementAndGet();
        send(ex, 200, "application/octet-stream", tgz);
        return;
      }
      // npm asks for "/@scope%2fname"; decode so both spellings work.
      String name = URLDecoder.decode(raw.substring(1), StandardCharsets.UTF_8);
      Map<String, Published> versions = packages.get(name);
      if (versions == null) {
        notFound(ex);
        return;
      }
      send(ex, 200, "application/json", JSON.writeValueAsBytes(packument(name, versions)));
    }
  }

  private ObjectNode packument(String name, Map<String, Published> versions) {
    ObjectNode doc = JSON.createObjectNode();
    doc.put("_id", name);
    doc.put("name", name);
    List<String> sorted = new ArrayList<>(versions.keySet());
    sorted.sort(Comparator.comparing(LocalNpmRegistry::versionKey));
    doc.putObject("dist-tags").put("latest", sorted.get(sorted.size() - 1));
    ObjectNode vs = doc.putObject("versions");
    ObjectNode time = doc.putObject("time");
    for (String v : sorted) {
      vs.set(v, versions.get(v).manifest());
      time.put(v, "2020-01-01T00:00:00.000Z");
    }
    return doc;
  }

  /** Orders plain x.y.z versions numerically (enough for fixtures). */
  private static String versionKey(String v) {
    StringBuilder sb = new StringBuilder();
    for (String part : v.split("[.-]")) {
      sb.append(part.matches("\\d+") ? String.format("%010d", Long.parseLong(part)) : part).append('.');
    }
    return sb.toString();
  }

  private static void notFound(HttpExchange ex) throws IOException {
    send(ex, 404, "application/json", "{\"error\":\"Not found\"}".getBytes(StandardCharsets.UTF_8));
  }

  private static void send(HttpExchange ex, int status, String type, byte[] body) throws IOException {
    ex.getResponseHeaders().set("Content-Type", type);
    boolean head = "HEAD".equals(ex.getRequestMethod());
    ex.sendResponseHeaders(status, head ? -1 : body.length);
    if (!head) {
      try (OutputStream os = ex.getResponseBody()) {
        os.write(body);
      }
    }
  }

  private static byte[] digest(String algorithm, byte[] data) {
    try {
      return MessageDigest.getInstance(algorithm).digest(data);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  /** Packs files as npm does: a tar.gz with every entry below {@code package/}. */
  static byte[] pack(Map<String, byte[]> files) {
    try {
      ByteArrayOutputStream bytes = new ByteArrayOutputStream();
      try (GZIPOutputStream gz = new GZIPOutputStream(bytes)) {
        for (Map.Entry<String, byte[]> e : new TreeMap<>(files).entrySet()) {
          String path = "package/" + e.getKey();
          byte[] name = path.getBytes(StandardCharsets.UTF_8);
          boolean exec = new String(e.getValue(), 0, Math.min(2, e.getValue().length), StandardCharsets.ISO_8859_1)
              .equals("#!");
          if (name.length > 100 || !path.chars().allMatch(c -> c < 0x80)) {
            byte[] rec = paxRecord("path", path);
            gz.write(header("package/PaxHeader", 'x', 0644, rec.length));
            gz.write(rec);
            gz.write(new byte[(512 - rec.length % 512) % 512]);
            path = path.chars().allMatch(c -> c < 0x80) ? path.substring(0, 100) : "package/_";
          }
          gz.write(header(path, '0', exec ? 0755 : 0644, e.getValue().length));
          gz.write(e.getValue());
          gz.write(new byte[(512 - e.getValue().length % 512) % 512]);
        }
        gz.write(new byte[1024]);
      }
      return bytes.toByteArray();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static byte[] paxRecord(String key, String value) {
    int payload = 1 + key.length() + 1 + value.getBytes(StandardCharsets.UTF_8).length + 1;
    int len = payload + String.valueOf(payload).length();
    if (String.valueOf(len).length() > String.valueOf(payload).length()) {
      len++;
    }
    return (len + " " + key + "=" + value + "\n").getBytes(StandardCharsets.UTF_8);
  }

  private static byte[] header(String name, char type, int mode, long size) {
    byte[] h = new byte[512];
    putAscii(h, 0, name, 100);
    putAscii(h, 100, String.format("%07o", mode), 8);
    putAscii(h, 108, "0000000", 8);
    putAscii(h, 116, "0000000", 8);
    putAscii(h, 124, String.format("%011o", size), 12);
    putAscii(h, 136, String.format("%011o", 499162500L), 12);
    for (int i = 148; i < 156; i++) {
      h[i] = ' ';
    }
    h[156] = (byte) type;
    putAscii(h, 257, "ustar", 6);
    h[263] = '0';
    h[264] = '0';
    long sum = 0;
    for (byte b : h) {
      sum += b & 0xff;
    }
    putAscii(h, 148, String.format("%06o", sum), 7);
    h[154] = 0;
    h[155] = ' ';
    return h;
  }

  private static void putAscii(byte[] h, int off, String s, int max) {
    byte[] b = s.getBytes(StandardCharsets.US_ASCII);
    System.arraycopy(b, 0, h, off, Math.min(b.length, max));
  }

  /** The manifests this registry holds, by name and version (for assertions and debugging). */
  public Map<String, List<String>> versions() {
    Map<String, List<String>> out = new LinkedHashMap<>();
    new TreeMap<>(packages).forEach((n, vs) -> out.put(n, new ArrayList<>(new TreeMap<>(vs).keySet())));
    return out;
  }
}
