package dev.extend.server;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.extend.server.internal.Json;
import java.io.IOException;
import org.eclipse.jetty.http.HttpTester;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The management API in memory (LocalConnector), against a real platform with in-memory stores. */
class ManagementApiTest {
  private static TestServer t;

  @BeforeAll
  static void start() throws IOException {
    t = TestServer.start();
  }

  @AfterAll
  static void stop() throws IOException {
    t.close();
  }

  static JsonNode json(HttpTester.Response r) {
    try {
      return Json.MAPPER.readTree(r.getContent());
    } catch (IOException e) {
      throw new AssertionError("not JSON: " + r.getContent(), e);
    }
  }

  static void assertError(HttpTester.Response r, int status, String code) {
    assertThat(r.getStatus()).as(r.getContent()).isEqualTo(status);
    assertThat(r.get("Content-Type")).startsWith("application/json");
    assertThat(json(r).path("error").path("code").asText()).as(r.getContent()).isEqualTo(code);
  }

  @Test
  void createReadUpdateListDelete() {
    String uri = "/api/v1/containers/crud/webhooks/hello";
    HttpTester.Response created = t.admin("PUT", uri, """
        {"code": "module.exports = async (ctx) => 'hi'",
         "secrets": {"API_KEY": "s3cret"}, "meta": {"owner": "ada"},
         "limits": {"timeoutMs": 5000, "memoryMb": 128}}""");
    assertThat(created.getStatus()).as(created.getContent()).isEqualTo(201);
    assertThat(created.get("ETag")).isEqualTo("\"1\"");
    assertThat(created.get("Location")).isEqualTo(uri);
    JsonNode w = json(created);
    assertThat(w.path("container").asText()).isEqualTo("crud");
    assertThat(w.path("name").asText()).isEqualTo("hello");
    assertThat(w.path("version").asLong()).isEqualTo(1);
    assertThat(w.path("secrets").toString()).isEqualTo("[\"API_KEY\"]");
    assertThat(created.getContent()).doesNotContain("s3cret");
    assertThat(w.path("meta").path("owner").asText()).isEqualTo("ada");
    assertThat(w.path("limits").path("timeoutMs").asLong()).isEqualTo(5000);
    assertThat(w.path("limits").path("memoryMb").asInt()).isEqualTo(128);
    assertThat(w.path("modules").isArray()).isTrue();
    assertThat(w.path("createdAt").asText()).isNotEmpty();

    HttpTester.Response got = t.admin("GET", uri, null);
    assertThat(got.getStatus()).isEqualTo(200);
    assertThat(got.get("ETag")).isEqualTo("\"1\"");
    assertThat(json(got).path("code").asText()).isEqualTo("module.exports = async (ctx) => 'hi'");

    HttpTester.Response updated = t.admin("PUT", uri, "{\"code\": \"module.exports = async () => 'v2'\"}");
    assertThat(updated.getStatus()).isEqualTo(200);
    assertThat(updated.get("ETag")).isEqualTo("\"2\"");
    assertThat(json(updated).path("secrets").size()).isZero();

    t.put("crud", "other", "module.exports = async () => 1");
    HttpTester.Response page1 = t.admin("GET", "/api/v1/containers/crud/webhooks?limit=1", null);
    assertThat(page1.getStatus()).isEqualTo(200);
    JsonNode p1 = json(page1);
    assertThat(p1.path("items").size()).isEqualTo(1);
    assertThat(p1.path("items").get(0).has("code")).isFalse();
    String cursor = p1.path("nextCursor").asText();
    assertThat(cursor).isNotEmpty();
    JsonNode p2 = json(t.admin("GET", "/api/v1/containers/crud/webhooks?limit=1&cursor="
        + java.net.URLEncoder.encode(cursor, java.nio.charset.StandardCharsets.UTF_8), null));
    assertThat(p2.path("items").size()).isEqualTo(1);
    assertThat(p2.path("items").get(0).path("name").asText())
        .isNotEqualTo(p1.path("items").get(0).path("name").asText());

    HttpTester.Response deleted = t.admin("DELETE", uri, null);
    assertThat(deleted.getStatus()).isEqualTo(204);
    assertError(t.admin("GET", uri, null), 404, "not_found");
    assertError(t.admin("DELETE", uri, null), 404, "not_found");
  }

  @Test
  void ifMatchGuardsUpdatesAndDeletes() {
    String uri = "/api/v1/containers/etag/webhooks/guarded";
    t.put("etag", "guarded", "module.exports = async () => 1");
    HttpTester.Request r = TestServer.request("PUT", uri);
    r.setHeader("Authorization", "Bearer " + TestServer.ADMIN);
    r.setHeader("If-Match", "\"1\"");
    r.setContent("{\"code\": \"module.exports = async () => 2\"}");
    assertThat(t.send(r).getStatus()).isEqualTo(200);

    // Same If-Match again: the version moved to 2.
    assertError(t.send(r), 412, "version_mismatch");

    HttpTester.Request d = TestServer.request("DELETE", uri);
    d.setHeader("Authorization", "Bearer " + TestServer.ADMIN);
    d.setHeader("If-Match", "\"1\"");
    assertError(t.send(d), 412, "version_mismatch");
    d.setHeader("If-Match", "\"2\"");
    assertThat(t.send(d).getStatus()).isEqualTo(204);

    HttpTester.Request bad = TestServer.request("PUT", uri);
    bad.setHeader("Authorization", "Bearer " + TestServer.ADMIN);
    bad.setHeader("If-Match", "yesterday");
    bad.setContent("{\"code\": \"x\"}");
    assertError(t.send(bad), 400, "validation_failed");
  }

  /** Each limit is optional and takes the platform's default (30000 ms, 256 MiB); GET shows the values in effect. */
  @Test
  void limitsAreEachOptionalAndReadBackAsTheValuesInEffect() {
    String base = "/api/v1/containers/lim/webhooks/";
    String code = "\"code\": \"module.exports = async () => 1\"";
    java.util.Map<String, String> bodies = new java.util.LinkedHashMap<>();
    bodies.put("timeout-only", "{" + code + ", \"limits\": {\"timeoutMs\": 1500}}");
    bodies.put("memory-only", "{" + code + ", \"limits\": {\"memoryMb\": 128}}");
    bodies.put("empty", "{" + code + ", \"limits\": {}}");
    bodies.put("nulls", "{" + code + ", \"limits\": {\"timeoutMs\": null, \"memoryMb\": null}}");
    bodies.put("none", "{" + code + "}");
    bodies.put("null", "{" + code + ", \"limits\": null}");
    java.util.Map<String, String> expected = java.util.Map.of(
        "timeout-only", "{\"timeoutMs\":1500,\"memoryMb\":256}",
        "memory-only", "{\"timeoutMs\":30000,\"memoryMb\":128}",
        "empty", "{\"timeoutMs\":30000,\"memoryMb\":256}",
        "nulls", "{\"timeoutMs\":30000,\"memoryMb\":256}",
        "none", "{\"timeoutMs\":30000,\"memoryMb\":256}",
        "null", "{\"timeoutMs\":30000,\"memoryMb\":256}");
    bodies.forEach((name, body) -> {
      HttpTester.Response put = t.admin("PUT", base + name, body);
      assertThat(put.getStatus()).as(name + ": " + put.getContent()).isEqualTo(201);
      assertThat(json(put).path("limits").toString()).as(name).isEqualTo(expected.get(name));
      HttpTester.Response got = t.admin("GET", base + name, null);
      assertThat(json(got).path("limits").toString()).as(name + " read back").isEqualTo(expected.get(name));
    });
    HttpTester.Response list = t.admin("GET", "/api/v1/containers/lim/webhooks", null);
    assertThat(list.getContent()).contains("{\"timeoutMs\":1500,\"memoryMb\":256}");

    // A limit given is still checked, alone too, and the error names it.
    String uri = base + "bad";
    record Bad(String limits, String field, String says) {}
    for (Bad bad : java.util.List.of(
        new Bad("{\"memoryMb\": 8}", "limits.memoryMb", "at least 32"),
        new Bad("{\"memoryMb\": 4096}", "limits.memoryMb", "exceeds the maximum of 1024"),
        new Bad("{\"memoryMb\": \"lots\"}", "limits.memoryMb", "wrong type"),
        new Bad("{\"memoryMb\": 12.5}", "limits.memoryMb", "wrong type"),
        new Bad("{\"timeoutMs\": 0}", "limits.timeoutMs", "at least 1 ms"),
        new Bad("{\"timeoutMs\": -5}", "limits.timeoutMs", "at least 1 ms"),
        new Bad("{\"timeoutMs\": 300001}", "limits.timeoutMs", "exceeds the maximum of 300000"),
        new Bad("{\"timeoutMs\": \"soon\"}", "limits.timeoutMs", "wrong type"),
        new Bad("{\"timeoutMs\": 1500, \"memoryMb\": 8}", "limits.memoryMb", "at least 32"),
        new Bad("[1500]", "limits", "wrong type"))) {
      HttpTester.Response r = t.admin("PUT", uri, "{" + code + ", \"limits\": " + bad.limits() + "}");
      assertError(r, 400, "validation_failed");
      JsonNode error = json(r).path("error");
      assertThat(error.path("field").asText()).as(bad.limits()).isEqualTo(bad.field());
      assertThat(error.path("message").asText()).as(bad.limits()).startsWith(bad.field() + ":").contains(bad.says());
    }
    assertError(t.admin("GET", uri, null), 404, "not_found");
  }

  @Test
  void malformedBodiesNameTheField() {
    String uri = "/api/v1/containers/val/webhooks/w";
    HttpTester.Response unknown = t.admin("PUT", uri, "{\"code\": \"x\", \"codez\": 1}");
    assertError(unknown, 400, "validation_failed");
    assertThat(json(unknown).path("error").path("message").asText()).startsWith("codez:");

    HttpTester.Response wrongType = t.admin("PUT", uri,
        "{\"code\": \"x\", \"limits\": {\"timeoutMs\": \"soon\", \"memoryMb\": 128}}");
    assertError(wrongType, 400, "validation_failed");
    assertThat(json(wrongType).path("error").path("message").asText()).startsWith("limits.timeoutMs:");

    HttpTester.Response floatForInt = t.admin("PUT", uri,
        "{\"code\": \"x\", \"limits\": {\"timeoutMs\": 1000, \"memoryMb\": 12.5}}");
    assertThat(json(floatForInt).path("error").path("message").asText()).startsWith("limits.memoryMb:");

    HttpTester.Response unknownNested = t.admin("PUT", uri,
        "{\"code\": \"x\", \"limits\": {\"timeout\": 1000}}");
    assertThat(json(unknownNested).path("error").path("message").asText()).startsWith("limits.timeout:");

    HttpTester.Response numberForString = t.admin("PUT", uri, "{\"code\": \"x\", \"meta\": {\"a\": 1}}");
    assertError(numberForString, 400, "validation_failed");
    assertThat(json(numberForString).path("error").path("message").asText()).startsWith("meta.a:");

    HttpTester.Response range = t.admin("PUT", uri, "{\"code\": \"x\", \"dependencies\": {\"lodash\": \"^4.17.21\"}}");
    assertError(range, 400, "validation_failed");
    assertThat(json(range).path("error").path("message").asText()).startsWith("dependencies.lodash:");

    HttpTester.Response malformed = t.admin("PUT", uri, "{\"code\": ");
    assertError(malformed, 400, "validation_failed");
    assertThat(json(malformed).path("error").path("message").asText()).startsWith("body:");

    assertError(t.admin("PUT", uri, "[1, 2]"), 400, "validation_failed");
    HttpTester.Response noCode = t.admin("PUT", uri, "{}");
    assertThat(json(noCode).path("error").path("message").asText()).startsWith("code:");

    HttpTester.Response badLimit = t.admin("GET", "/api/v1/containers/val/webhooks?limit=0", null);
    assertThat(json(badLimit).path("error").path("message").asText()).startsWith("limit:");
  }

  @Test
  void oversizeManagementBodyIs413() {
    String big = "x".repeat(5 * 1024 * 1024);
    HttpTester.Response r = t.admin("PUT", "/api/v1/containers/big/webhooks/w",
        "{\"code\": \"" + big + "\"}");
    assertError(r, 413, "payload_too_large");

    // Chunked, no Content-Length: refused once it grows past the cap.
    StringBuilder raw = new StringBuilder()
        .append("PUT /api/v1/containers/big/webhooks/w HTTP/1.1\r\nHost: localhost\r\n")
        .append("Authorization: Bearer ").append(TestServer.ADMIN).append("\r\n")
        .append("Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
    String chunk = "y".repeat(1024 * 1024);
    for (int i = 0; i < 5; i++) {
      raw.append(Integer.toHexString(chunk.length())).append("\r\n").append(chunk).append("\r\n");
    }
    raw.append("0\r\n\r\n");
    assertError(t.sendRaw(raw.toString()), 413, "payload_too_large");
  }

  @Test
  void pathTricksNeverReachAnotherResource() {
    String scoped = json(t.admin("POST", "/api/v1/tokens", "{\"containers\": [\"alpha\"]}")).path("token").asText();
    t.put("beta", "secret", "module.exports = async () => 'beta'");

    // Encoded slash inside a name: one segment, an invalid name, never beta's webhook.
    HttpTester.Response slash = t.as(scoped, "GET", "/api/v1/containers/alpha%2F..%2Fbeta/webhooks/secret", null);
    assertThat(slash.getStatus()).as(slash.getContent()).isIn(400, 403);
    HttpTester.Response encodedDots = t.as(scoped, "GET", "/api/v1/containers/alpha/webhooks/%2e%2e", null);
    assertThat(encodedDots.getStatus()).as(encodedDots.getContent()).isEqualTo(400);
    HttpTester.Response dots = t.as(scoped, "GET", "/api/v1/containers/alpha/../beta/webhooks/secret", null);
    assertThat(dots.getStatus()).as(dots.getContent()).isIn(400, 403, 404);
    assertThat(dots.getContent()).doesNotContain("'beta'");
    HttpTester.Response upper = t.admin("PUT", "/api/v1/containers/Alpha/webhooks/w", "{\"code\": \"x\"}");
    assertError(upper, 400, "validation_failed");
    assertThat(json(upper).path("error").path("message").asText()).startsWith("container:");
    HttpTester.Response badName = t.admin("PUT", "/api/v1/containers/alpha/webhooks/a%20b", "{\"code\": \"x\"}");
    assertThat(json(badName).path("error").path("message").asText()).startsWith("webhook:");
    HttpTester.Response badEncoding = t.sendRaw("GET /api/v1/containers/alpha/webhooks/%zz HTTP/1.1\r\n"
        + "Host: localhost\r\nAuthorization: Bearer " + TestServer.ADMIN + "\r\nConnection: close\r\n\r\n");
    assertThat(badEncoding.getStatus()).isEqualTo(400);
    assertThat(badEncoding.getContent()).contains("\"error\"");
  }

  @Test
  void authentication() {
    String uri = "/api/v1/containers/authc/webhooks";
    HttpTester.Response missing = t.as(null, "GET", uri, null);
    assertError(missing, 401, "unauthorized");
    assertThat(missing.get("WWW-Authenticate")).startsWith("Bearer");
    HttpTester.Response invalid = t.as("not-a-token", "GET", uri, null);
    assertError(invalid, 401, "unauthorized");
    assertThat(invalid.get("WWW-Authenticate")).startsWith("Bearer");
    HttpTester.Request basic = TestServer.request("GET", uri);
    basic.setHeader("Authorization", "Basic YWRtaW46YWRtaW4=");
    assertError(t.send(basic), 401, "unauthorized");

    HttpTester.Response issued = t.admin("POST", "/api/v1/tokens",
        "{\"containers\": [\"authc\"], \"description\": \"ci\"}");
    assertThat(issued.getStatus()).as(issued.getContent()).isEqualTo(201);
    String id = json(issued).path("id").asText();
    String token = json(issued).path("token").asText();
    assertThat(id).isNotEmpty();
    assertThat(token).isNotEmpty();

    assertThat(t.as(token, "GET", uri, null).getStatus()).isEqualTo(200);
    HttpTester.Response put = t.as(token, "PUT", uri + "/mine", "{\"code\": \"module.exports = async () => 1\"}");
    assertThat(put.getStatus()).isEqualTo(201);
    assertError(t.as(token, "GET", "/api/v1/containers/other/webhooks", null), 403, "forbidden");
    assertError(t.as(token, "PUT", "/api/v1/containers/other/webhooks/x", "{\"code\": \"x\"}"), 403, "forbidden");
    assertError(t.as(token, "GET", "/api/v1/containers/other/logs", null), 403, "forbidden");

    // Admin-only routes.
    assertError(t.as(token, "POST", "/api/v1/tokens", "{\"containers\": [\"authc\"]}"), 403, "forbidden");
    assertError(t.as(token, "DELETE", "/api/v1/tokens/" + id, null), 403, "forbidden");
    assertError(t.as(token, "POST", "/api/v1/modules/lodash/4.17.21/retry", null), 403, "forbidden");
    assertError(t.as(token, "GET", "/api/v1/modules", null), 403, "forbidden");

    // Revoked: 401 from then on.
    assertThat(t.admin("DELETE", "/api/v1/tokens/" + id, null).getStatus()).isEqualTo(204);
    assertError(t.as(token, "GET", uri, null), 401, "unauthorized");
    assertError(t.admin("DELETE", "/api/v1/tokens/" + id, null), 404, "not_found");

    // An admin token issued by the platform is an admin.
    String admin2 = json(t.admin("POST", "/api/v1/tokens", "{\"containers\": []}")).path("token").asText();
    assertThat(t.as(admin2, "GET", "/api/v1/containers/anything/webhooks", null).getStatus()).isEqualTo(200);
  }

  @Test
  void tokenBodiesAreValidated() {
    assertError(t.admin("POST", "/api/v1/tokens", "{}"), 400, "validation_failed");
    HttpTester.Response bad = t.admin("POST", "/api/v1/tokens", "{\"containers\": [\"ok\", \"NOT OK\"]}");
    assertThat(json(bad).path("error").path("message").asText()).startsWith("containers[1]:");
    HttpTester.Response unknown = t.admin("POST", "/api/v1/tokens", "{\"containers\": [], \"admin\": true}");
    assertThat(json(unknown).path("error").path("message").asText()).startsWith("admin:");
  }

  @Test
  void modules() {
    HttpTester.Response created = t.admin("PUT", "/api/v1/containers/mods/webhooks/w",
        "{\"code\": \"module.exports = async () => 1\", \"dependencies\": {\"@scope/thing\": \"1.2.3\", \"left-pad\": \"1.3.0\"}}");
    assertThat(created.getStatus()).as(created.getContent()).isEqualTo(201);
    JsonNode modules = json(created).path("modules");
    assertThat(modules.size()).isEqualTo(2);
    assertThat(modules.get(0).path("name").asText()).isEqualTo("@scope/thing");
    assertThat(modules.get(0).path("state").asText()).isIn("queued", "building", "ready", "failed");

    HttpTester.Response one = t.admin("GET", "/api/v1/modules/%40scope%2Fthing/1.2.3", null);
    assertThat(one.getStatus()).as(one.getContent()).isEqualTo(200);
    assertThat(json(one).path("name").asText()).isEqualTo("@scope/thing");
    assertThat(json(one).has("log")).isTrue();

    HttpTester.Response list = t.admin("GET", "/api/v1/modules?limit=10", null);
    assertThat(list.getStatus()).isEqualTo(200);
    assertThat(list.getContent()).contains("left-pad");

    assertError(t.admin("GET", "/api/v1/modules/nothing-asked/1.0.0", null), 404, "not_found");
    assertError(t.admin("GET", "/api/v1/modules/lodash/latest", null), 400, "validation_failed");
  }

  @Test
  void unknownRoutesAndMethods() {
    assertError(t.admin("GET", "/api/v1/nothing", null), 404, "not_found");
    HttpTester.Response wrongMethod = t.admin("POST", "/api/v1/containers/x/webhooks/y", "{}");
    assertError(wrongMethod, 405, "method_not_allowed");
    assertThat(wrongMethod.get("Allow")).contains("GET").contains("PUT").contains("DELETE");
    assertError(t.admin("GET", "/nothing/here", null), 404, "not_found");
  }

  @Test
  void healthReadinessMetricsAndOpenApi() {
    assertThat(t.as(null, "GET", "/healthz", null).getStatus()).isEqualTo(200);
    HttpTester.Response ready = t.as(null, "GET", "/readyz", null);
    assertThat(ready.getStatus()).as(ready.getContent()).isEqualTo(200);
    HttpTester.Response metrics = t.admin("GET", "/metrics", null);
    assertThat(metrics.getStatus()).isEqualTo(200);
    assertThat(metrics.get("Content-Type")).startsWith("text/plain");
    assertThat(metrics.getContent()).contains("extend_pool_warm").contains("extend_build_queue_depth")
        .contains("jvm_memory_used_bytes");
    HttpTester.Response doc = t.as(null, "GET", "/api/v1/openapi.json", null);
    assertThat(doc.getStatus()).isEqualTo(200);
    assertThat(json(doc).path("openapi").asText()).startsWith("3.");
  }
}
