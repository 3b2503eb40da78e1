package dev.extend.server;

import static dev.extend.server.ManagementApiTest.assertError;
import static dev.extend.server.ManagementApiTest.json;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import org.eclipse.jetty.http.HttpTester;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The /run proxy in memory, against real sandboxes of the local runtime. */
class RunProxyTest {
  private static final String ECHO = """
      module.exports = async (ctx) => ({
        method: ctx.method, path: ctx.path, query: ctx.query, headers: ctx.headers,
        body: ctx.body, version: ctx.webhook.version });
      """;
  private static final String RAW = """
      module.exports = (ctx, req, res) => {
        let n = 0;
        req.on('data', (c) => { n += c.length; });
        req.on('end', () => {
          res.writeHead(201, { 'content-type': 'text/plain', 'x-webhook': 'raw',
            'connection': 'keep-alive', 'keep-alive': 'timeout=5' });
          res.write('received ');
          setTimeout(() => res.end(n + ' bytes'), 5);
        });
      };
      """;
  private static TestServer t;

  @BeforeAll
  static void start() throws IOException {
    t = TestServer.start(p -> p.maxRequestBodyBytes(1024 * 1024), s -> {});
    t.put("acme", "echo", ECHO);
    t.put("acme", "raw", RAW);
    t.put("acme", "big", "module.exports = async (ctx) => 'x'.repeat(Number(ctx.query.n))");
    t.put("acme", "thrower", "module.exports = async () => { throw new TypeError('boom'); }");
  }

  @AfterAll
  static void stop() throws IOException {
    t.close();
  }

  @Test
  void passesMethodPathQueryHeadersAndBody() {
    HttpTester.Request r = TestServer.request("PATCH", "/run/acme/echo/a/b%20c?x=1&y=two");
    r.setHeader("Content-Type", "application/json");
    r.setHeader("X-Custom", "yes");
    r.setHeader("Keep-Alive", "timeout=3");
    r.setHeader("Proxy-Authorization", "Basic c2VjcmV0");
    r.setHeader("TE", "trailers");
    r.setContent("{\"name\":\"Ada\"}");
    HttpTester.Response res = t.send(r);
    assertThat(res.getStatus()).as(res.getContent()).isEqualTo(200);
    JsonNode echo = json(res);
    assertThat(echo.path("method").asText()).isEqualTo("PATCH");
    assertThat(echo.path("path").asText()).isEqualTo("/a/b%20c");
    assertThat(echo.path("query").path("y").asText()).isEqualTo("two");
    assertThat(echo.path("body").path("name").asText()).isEqualTo("Ada");
    JsonNode headers = echo.path("headers");
    assertThat(headers.path("x-custom").asText()).isEqualTo("yes");
    assertThat(headers.has("keep-alive")).isFalse();
    assertThat(headers.has("proxy-authorization")).isFalse();
    assertThat(headers.has("te")).isFalse();
    assertThat(headers.path("x-forwarded-for").asText()).isNotEmpty();
    assertThat(res.get("Content-Type")).startsWith("application/json");
  }

  @Test
  void streamsRawResponsesAndDropsHopByHopHeaders() {
    HttpTester.Request r = TestServer.request("POST", "/run/acme/raw");
    r.setContent("z".repeat(300_000));
    HttpTester.Response res = t.send(r);
    assertThat(res.getStatus()).as(res.getContent()).isEqualTo(201);
    assertThat(res.getContent()).isEqualTo("received 300000 bytes");
    assertThat(res.get("X-Webhook")).isEqualTo("raw");
    assertThat(res.get("Keep-Alive")).isNull();
  }

  @Test
  void headAnswersHeadersOnly() throws Exception {
    java.net.http.HttpResponse<String> r = java.net.http.HttpClient.newHttpClient().send(
        java.net.http.HttpRequest.newBuilder(java.net.URI.create(t.baseUrl() + "/run/acme/echo"))
            .method("HEAD", java.net.http.HttpRequest.BodyPublishers.noBody()).build(),
        java.net.http.HttpResponse.BodyHandlers.ofString());
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(r.body()).isEmpty();
    assertThat(r.headers().firstValue("content-type").orElse("")).startsWith("application/json");
  }

  @Test
  void largeResponsesStreamWithTheirLength() {
    HttpTester.Response r = t.send(TestServer.request("GET", "/run/acme/big?n=3000000"));
    assertThat(r.getStatus()).isEqualTo(200);
    assertThat(r.get("Content-Length")).isEqualTo("3000000");
    assertThat(r.getContent()).hasSize(3_000_000);
    HttpTester.Response small = t.send(TestServer.request("GET", "/run/acme/big?n=10"));
    assertThat(small.getContent()).isEqualTo("xxxxxxxxxx");
    // longer than one write of the server, short enough to arrive whole from the sandbox
    HttpTester.Response medium = t.send(TestServer.request("GET", "/run/acme/big?n=200000"));
    assertThat(medium.get("Content-Length")).isEqualTo("200000");
    assertThat(medium.getContent()).hasSize(200_000).matches("x+");
  }

  @Test
  void requestBodiesOfEverySizeArriveWhole() {
    // empty, collected before invoking (up to 64 KiB), and streamed to the sandbox (longer)
    for (int n : new int[] {0, 1, 30_000, 65_536, 65_537, 500_000}) {
      HttpTester.Request r = TestServer.request("POST", "/run/acme/raw");
      r.setContent("b".repeat(n));
      HttpTester.Response res = t.send(r);
      assertThat(res.getStatus()).as(n + " bytes: " + res.getContent()).isEqualTo(201);
      assertThat(res.getContent()).isEqualTo("received " + n + " bytes");
    }
  }

  @Test
  void chunkedRequestBodiesStream() {
    StringBuilder raw = new StringBuilder("POST /run/acme/raw HTTP/1.1\r\nHost: localhost\r\n"
        + "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
    String chunk = "c".repeat(10_000);
    for (int i = 0; i < 10; i++) {
      raw.append(Integer.toHexString(chunk.length())).append("\r\n").append(chunk).append("\r\n");
    }
    raw.append("0\r\n\r\n");
    HttpTester.Response res = t.sendRaw(raw.toString());
    assertThat(res.getStatus()).as(res.getContent()).isEqualTo(201);
    assertThat(res.getContent()).isEqualTo("received 100000 bytes");
  }

  @Test
  void oversizeBodiesAre413() {
    HttpTester.Request r = TestServer.request("POST", "/run/acme/raw");
    r.setContent("z".repeat(1024 * 1024 + 1));
    assertError(t.send(r), 413, "payload_too_large");

    // Chunked: no length up front, refused once past the limit.
    StringBuilder raw = new StringBuilder("POST /run/acme/raw HTTP/1.1\r\nHost: localhost\r\n"
        + "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
    String chunk = "c".repeat(256 * 1024);
    for (int i = 0; i < 6; i++) {
      raw.append(Integer.toHexString(chunk.length())).append("\r\n").append(chunk).append("\r\n");
    }
    raw.append("0\r\n\r\n");
    assertError(t.sendRaw(raw.toString()), 413, "payload_too_large");
  }

  @Test
  void errorsHaveTheirStatusAndShape() {
    HttpTester.Response thrown = t.send(TestServer.request("POST", "/run/acme/thrower"));
    assertError(thrown, 502, "function_error");
    assertThat(json(thrown).path("error").path("message").asText()).contains("boom");
    assertError(t.send(TestServer.request("GET", "/run/acme/missing")), 404, "not_found");
    assertError(t.send(TestServer.request("GET", "/run/acme")), 404, "not_found");
    assertError(t.send(TestServer.request("GET", "/run/ACME/echo")), 404, "not_found");
  }

  @Test
  void modulesNotReadyListsTheirStates() {
    t.admin("PUT", "/api/v1/containers/acme/webhooks/needsmods",
        "{\"code\": \"module.exports = async () => 1\", \"dependencies\": {\"left-pad\": \"1.3.0\"}}");
    HttpTester.Response r = t.send(TestServer.request("GET", "/run/acme/needsmods"));
    assertThat(r.getStatus()).as(r.getContent()).isIn(409, 503);
    JsonNode err = json(r).path("error");
    assertThat(err.path("code").asText()).isEqualTo("modules_not_ready");
    assertThat(err.path("modules").get(0).path("name").asText()).isEqualTo("left-pad");
    assertThat(err.path("modules").get(0).has("state")).isTrue();
    // states only: build logs are for the module's own page, never for /run's callers
    assertThat(err.path("modules").get(0).has("log")).isFalse();
  }

  @Test
  void tokensCanBeRequiredForRuns() throws IOException {
    try (TestServer locked = TestServer.start(p -> {}, s -> s.requireTokenForRun(true))) {
      locked.put("acme", "echo", ECHO);
      locked.put("other", "echo", ECHO);
      HttpTester.Response anonymous = locked.send(TestServer.request("GET", "/run/acme/echo"));
      assertError(anonymous, 401, "unauthorized");
      assertThat(anonymous.get("WWW-Authenticate")).startsWith("Bearer");
      String token = json(locked.admin("POST", "/api/v1/tokens", "{\"containers\": [\"acme\"]}"))
          .path("token").asText();
      HttpTester.Request r = TestServer.request("GET", "/run/acme/echo");
      r.setHeader("Authorization", "Bearer " + token);
      HttpTester.Response ok = locked.send(r);
      assertThat(ok.getStatus()).as(ok.getContent()).isEqualTo(200);
      // The platform's token is not handed to the webhook.
      assertThat(json(ok).path("headers").has("authorization")).isFalse();
      HttpTester.Request other = TestServer.request("GET", "/run/other/echo");
      other.setHeader("Authorization", "Bearer " + token);
      assertError(locked.send(other), 403, "forbidden");
      // Revoking through this node ends run access at once, although valid tokens are cached.
      JsonNode issued = json(locked.admin("POST", "/api/v1/tokens", "{\"containers\": [\"acme\"]}"));
      HttpTester.Request withSecond = TestServer.request("GET", "/run/acme/echo");
      withSecond.setHeader("Authorization", "Bearer " + issued.path("token").asText());
      assertThat(locked.send(withSecond).getStatus()).isEqualTo(200);
      assertThat(locked.admin("DELETE", "/api/v1/tokens/" + issued.path("id").asText(), null).getStatus())
          .isEqualTo(204);
      assertError(locked.send(withSecond), 401, "unauthorized");
    }
  }

  @Test
  void hostBasedRoutes() throws IOException {
    try (TestServer hosted = TestServer.start(p -> {}, s -> s.hostDomain("hooks.example.com"))) {
      hosted.put("acme", "echo", ECHO);
      HttpTester.Request r = TestServer.request("GET", "/echo/deep/path?q=1");
      r.setHeader("Host", "acme.hooks.example.com");
      HttpTester.Response res = hosted.send(r);
      assertThat(res.getStatus()).as(res.getContent()).isEqualTo(200);
      assertThat(json(res).path("path").asText()).isEqualTo("/deep/path");
      // Other hosts keep the path routes.
      assertThat(hosted.send(TestServer.request("GET", "/run/acme/echo")).getStatus()).isEqualTo(200);
    }
  }
}
