package dev.extend.server;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.extend.ContainerName;
import dev.extend.server.internal.Json;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Iterator;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@code DELETE /api/v1/containers/{container}}: nothing keyed by the container's name outlives
 * it (webhooks, tokens, log replay, open log streams, the sandbox and what the old code left in
 * its memory), and a container created again under that name starts clean.
 */
class ContainerDeletionTest {
  private static TestServer t;
  private static HttpClient http;

  @BeforeAll
  static void start() throws IOException {
    t = TestServer.start(p -> {}, s -> s.logHeartbeat(Duration.ofMillis(200)));
    http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(10)).build();
  }

  @AfterAll
  static void stop() throws IOException {
    t.close();
  }

  private static HttpResponse<String> send(String method, String path, String token, String body) throws Exception {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(t.baseUrl() + path)).timeout(Duration.ofSeconds(30))
        .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
    if (token != null) {
      b.header("Authorization", "Bearer " + token);
    }
    if (body != null) {
      b.header("Content-Type", "application/json");
    }
    return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
  }

  private static String token(String containers) throws Exception {
    HttpResponse<String> r = send("POST", "/api/v1/tokens", TestServer.ADMIN, "{\"containers\": " + containers + "}");
    assertThat(r.statusCode()).as(r.body()).isEqualTo(201);
    return Json.MAPPER.readTree(r.body()).path("token").asText();
  }

  @Test
  void deletingAContainerLeavesNothingOfItAndItsNameStartsClean() throws Exception {
    // the old tenant leaves state in its sandbox's memory and lines in the log replay
    t.put("acme", "hook", "module.exports = async () => { globalThis.left = 'old tenant'; "
        + "console.log('old tenant line'); return { left: globalThis.left }; }");
    t.put("acme", "second", "module.exports = async () => 2");
    t.put("bystander", "hook", "module.exports = async () => ({ ok: true })");
    String acme = token("[\"acme\"]");
    String both = token("[\"acme\", \"bystander\"]");
    String bystander = token("[\"bystander\"]");

    assertThat(send("POST", "/run/acme/hook", null, "{}").body()).contains("old tenant");
    long logged = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
    while (t.platform.recentLogs(ContainerName.of("acme"), 10).isEmpty() && System.nanoTime() < logged) {
      Thread.sleep(20);
    }
    assertThat(t.platform.recentLogs(ContainerName.of("acme"), 10)).isNotEmpty();

    // an open log stream of the container
    HttpResponse<Stream<String>> stream = http.send(HttpRequest.newBuilder(
        URI.create(t.baseUrl() + "/api/v1/containers/acme/logs?replay=0"))
        .header("Authorization", "Bearer " + acme).GET().build(), HttpResponse.BodyHandlers.ofLines());
    assertThat(stream.statusCode()).isEqualTo(200);
    ExecutorService reader = Executors.newSingleThreadExecutor();
    Iterator<String> lines = stream.body().iterator();
    Future<Boolean> ended = reader.submit(() -> {
      while (lines.hasNext()) {
        lines.next();
      }
      return true;
    });

    // only an admin may delete it
    assertThat(send("DELETE", "/api/v1/containers/acme", acme, null).statusCode()).isEqualTo(403);
    HttpResponse<String> deleted = send("DELETE", "/api/v1/containers/acme", TestServer.ADMIN, null);
    assertThat(deleted.statusCode()).as(deleted.body()).isEqualTo(204);

    assertThat(ended.get(10, TimeUnit.SECONDS)).as("the open log stream ends").isTrue();
    reader.shutdownNow();
    JsonNode list = Json.MAPPER.readTree(send("GET", "/api/v1/containers/acme/webhooks", TestServer.ADMIN, null).body());
    assertThat(list.path("items").size()).isZero();
    assertThat(send("POST", "/run/acme/hook", null, "{}").statusCode()).isEqualTo(404);
    assertThat(send("GET", "/api/v1/containers/acme/webhooks", acme, null).statusCode()).isEqualTo(401);
    // a token granting it besides another container is revoked too; one for another container is not
    assertThat(send("GET", "/api/v1/containers/bystander/webhooks", both, null).statusCode()).isEqualTo(401);
    assertThat(send("GET", "/api/v1/containers/bystander/webhooks", bystander, null).statusCode()).isEqualTo(200);
    assertThat(send("POST", "/run/bystander/hook", null, "{}").statusCode()).isEqualTo(200);
    assertThat(t.platform.recentLogs(ContainerName.of("acme"), 100)).isEmpty();

    // a new tenant under the same name: a fresh sandbox, nothing of the old one in memory or logs
    t.put("acme", "hook", "module.exports = async () => ({ left: globalThis.left || null })");
    HttpResponse<String> fresh = send("POST", "/run/acme/hook", null, "{}");
    assertThat(fresh.statusCode()).as(fresh.body()).isEqualTo(200);
    assertThat(Json.MAPPER.readTree(fresh.body()).path("left").isNull()).as(fresh.body()).isTrue();
    assertThat(t.platform.recentLogs(ContainerName.of("acme"), 100))
        .noneMatch(e -> e.message().contains("old tenant"));
    // deleting again (or a container that never was) is fine
    assertThat(send("DELETE", "/api/v1/containers/never-was", TestServer.ADMIN, null).statusCode()).isEqualTo(204);
  }
}
