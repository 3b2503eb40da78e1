package dev.extend.server;

import dev.extend.ServerlessPlatform;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.eclipse.jetty.http.HttpTester;
import org.eclipse.jetty.server.LocalConnector;

/**
 * A real platform (local process runtime, in-memory stores) behind a started
 * {@link ExtendServer}, reachable both in memory (Jetty's LocalConnector) and over a socket.
 */
final class TestServer implements AutoCloseable {
  static final String ADMIN = "test-admin-token-0123456789";
  static final Path NODE = Path.of("/usr/bin/node");

  final Path dataDir;
  final ServerMetrics metrics;
  final ServerlessPlatform platform;
  final ExtendServer server;
  final LocalConnector local;

  private TestServer(Consumer<ServerlessPlatform.Builder> platformConfig,
      Consumer<ExtendServer.Builder> serverConfig) throws IOException {
    dataDir = Files.createTempDirectory("extend-server-test");
    metrics = ServerMetrics.create();
    ServerlessPlatform.Builder pb = ServerlessPlatform.builder()
        .dataDir(dataDir)
        .sandboxRuntime(dev.extend.spi.SandboxRuntime.localProcesses())
        // in memory, though extend-storage-jdbc is on the class path: tests start clean and fast
        .storage(dev.extend.spi.Storage.inMemory())
        .poolSize(2)
        .maxSandboxes(8)
        .buildWorkers(0)
        .listener(metrics.platformListener());
    platformConfig.accept(pb);
    platform = pb.build();
    ExtendServer.Builder sb = ExtendServer.builder(platform)
        .port(0)
        .host("127.0.0.1")
        .adminToken(ADMIN)
        .metrics(metrics)
        .closesPlatform(true)
        .drainTimeout(java.time.Duration.ofSeconds(5));
    serverConfig.accept(sb);
    server = sb.build();
    local = server.addLocalConnector();
    server.start();
  }

  static TestServer start() throws IOException {
    return start(p -> {}, s -> {});
  }

  static TestServer start(Consumer<ServerlessPlatform.Builder> platformConfig,
      Consumer<ExtendServer.Builder> serverConfig) throws IOException {
    return new TestServer(platformConfig, serverConfig);
  }

  /** A request to send in memory. */
  static HttpTester.Request request(String method, String uri) {
    HttpTester.Request r = HttpTester.newRequest();
    r.setMethod(method);
    r.setURI(uri);
    r.setVersion("HTTP/1.1");
    r.setHeader("Host", "localhost");
    r.setHeader("Connection", "close");
    return r;
  }

  /** Sends a request in memory as the admin, with an optional JSON body. */
  HttpTester.Response admin(String method, String uri, String json) {
    return as(ADMIN, method, uri, json);
  }

  /** Sends a request in memory with the given bearer token (null: none). */
  HttpTester.Response as(String token, String method, String uri, String json) {
    HttpTester.Request r = request(method, uri);
    if (token != null) {
      r.setHeader("Authorization", "Bearer " + token);
    }
    if (json != null) {
      r.setHeader("Content-Type", "application/json");
      r.setContent(json);
    }
    return send(r);
  }

  /** Sends a prepared request in memory. */
  HttpTester.Response send(HttpTester.Request r) {
    return send(r.generate());
  }

  /** Sends raw request bytes in memory. */
  HttpTester.Response send(ByteBuffer raw) {
    try {
      ByteBuffer answer = local.getResponse(raw, 30, TimeUnit.SECONDS);
      if (answer == null) {
        throw new AssertionError("no response within 30 s");
      }
      return HttpTester.parseResponse(answer);
    } catch (Exception e) {
      throw new AssertionError(e);
    }
  }

  /** Sends a raw request text in memory. */
  HttpTester.Response sendRaw(String raw) {
    return send(ByteBuffer.wrap(raw.getBytes(StandardCharsets.ISO_8859_1)));
  }

  /** Creates or updates a webhook as the admin, failing unless it answers 200/201. */
  void put(String container, String name, String code) {
    HttpTester.Response r = admin("PUT", "/api/v1/containers/" + container + "/webhooks/" + name,
        "{\"code\":" + quote(code) + "}");
    if (r.getStatus() != 200 && r.getStatus() != 201) {
      throw new AssertionError("PUT failed: " + r.getStatus() + " " + r.getContent());
    }
  }

  /** A JSON string literal. */
  static String quote(String s) {
    try {
      return dev.extend.server.internal.Json.MAPPER.writeValueAsString(s);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  String baseUrl() {
    return "http://127.0.0.1:" + server.port();
  }

  @Override
  public void close() throws IOException {
    server.close();
    dev.extend.testing.TempDirs.delete(dataDir);
  }
}
