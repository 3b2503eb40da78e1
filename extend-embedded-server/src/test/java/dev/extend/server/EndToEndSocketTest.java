package dev.extend.server;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.extend.server.internal.Json;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The server over real sockets: lifecycle of a webhook, many containers at once, log streaming. */
class EndToEndSocketTest {
  private static TestServer t;
  private static HttpClient http;

  @BeforeAll
  static void start() throws IOException {
    t = TestServer.start(
        p -> p.poolSize(4).maxSandboxes(26).sandboxWaitTimeout(Duration.ofSeconds(90)),
        s -> s.logHeartbeat(Duration.ofMillis(200)));
    http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
        .connectTimeout(Duration.ofSeconds(10)).build();
  }

  @AfterAll
  static void stop() throws IOException {
    t.close();
  }

  private static HttpResponse<String> send(String method, String path, String token, String body)
      throws IOException, InterruptedException {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(t.baseUrl() + path))
        .timeout(Duration.ofSeconds(60))
        .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
    if (token != null) {
      b.header("Authorization", "Bearer " + token);
    }
    if (body != null) {
      b.header("Content-Type", "application/json");
    }
    return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
  }

  private static JsonNode json(HttpResponse<String> r) throws IOException {
    return Json.MAPPER.readTree(r.body());
  }

  @Test
  void createInvokeUpdateInvokeDelete() throws Exception {
    String api = "/api/v1/containers/lifecycle/webhooks/greet";
    HttpResponse<String> created = send("PUT", api, TestServer.ADMIN,
        "{\"code\": \"module.exports = async (ctx) => ({ hello: ctx.body.name, v: 1 })\"}");
    assertThat(created.statusCode()).as(created.body()).isEqualTo(201);

    HttpResponse<String> first = send("POST", "/run/lifecycle/greet", null, "{\"name\": \"Ada\"}");
    assertThat(first.statusCode()).as(first.body()).isEqualTo(200);
    assertThat(json(first).path("hello").asText()).isEqualTo("Ada");
    assertThat(json(first).path("v").asInt()).isEqualTo(1);

    HttpResponse<String> updated = send("PUT", api, TestServer.ADMIN,
        "{\"code\": \"module.exports = async (ctx) => ({ hello: ctx.body.name, v: 2 })\"}");
    assertThat(updated.statusCode()).as(updated.body()).isEqualTo(200);
    assertThat(json(updated).path("version").asLong()).isEqualTo(2);

    HttpResponse<String> second = send("POST", "/run/lifecycle/greet", null, "{\"name\": \"Grace\"}");
    assertThat(second.statusCode()).as(second.body()).isEqualTo(200);
    assertThat(json(second).path("v").asInt()).isEqualTo(2);
    assertThat(json(second).path("hello").asText()).isEqualTo("Grace");

    assertThat(send("DELETE", api, TestServer.ADMIN, null).statusCode()).isEqualTo(204);
    HttpResponse<String> gone = send("POST", "/run/lifecycle/greet", null, "{}");
    assertThat(gone.statusCode()).as(gone.body()).isEqualTo(404);
    assertThat(json(gone).path("error").path("code").asText()).isEqualTo("not_found");
  }

  @Test
  void twoHundredConcurrentInvocationsOverTwentyContainers() throws Exception {
    for (int c = 0; c < 20; c++) {
      t.put("tenant-" + c, "count", "module.exports = async (ctx) => ({ container: ctx.webhook.container, n: ctx.body.n })");
    }
    List<CompletableFuture<HttpResponse<String>>> calls = new ArrayList<>();
    for (int i = 0; i < 200; i++) {
      String container = "tenant-" + (i % 20);
      HttpRequest r = HttpRequest.newBuilder(URI.create(t.baseUrl() + "/run/" + container + "/count"))
          .timeout(Duration.ofSeconds(120))
          .header("Content-Type", "application/json")
          .POST(HttpRequest.BodyPublishers.ofString("{\"n\": " + i + "}"))
          .build();
      calls.add(http.sendAsync(r, HttpResponse.BodyHandlers.ofString()));
    }
    Map<Integer, String> failures = new ConcurrentHashMap<>();
    for (int i = 0; i < calls.size(); i++) {
      HttpResponse<String> r = calls.get(i).get(180, TimeUnit.SECONDS);
      if (r.statusCode() != 200) {
        failures.put(i, r.statusCode() + " " + r.body());
        continue;
      }
      JsonNode body = json(r);
      assertThat(body.path("n").asInt()).isEqualTo(i);
      assertThat(body.path("container").asText()).isEqualTo("tenant-" + (i % 20));
    }
    assertThat(failures).isEmpty();
    assertThat(t.platform.pool().stats().assigned()).isGreaterThanOrEqualTo(20);

    String metrics = send("GET", "/metrics", TestServer.ADMIN, null).body();
    assertThat(metrics).contains("extend_invocations_total{cold=\"true\",status=\"200\"}");
    assertThat(metrics).contains("extend_invocation_duration_seconds_bucket");
  }

  @Test
  void logStreamCarriesConsoleOutputAndEndsWhenTheClientLeaves() throws Exception {
    t.put("logs", "chatty", "module.exports = async (ctx) => { console.log('marker ' + ctx.body.id); return 'ok'; }");
    // One line before subscribing: must come as a replay.
    assertThat(send("POST", "/run/logs/chatty", null, "{\"id\": \"before\"}").statusCode()).isEqualTo(200);
    // console output travels apart from the answer (the sandbox's stdout): wait until it is in
    long logged = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
    while (t.platform.recentLogs(dev.extend.ContainerName.of("logs"), 10).stream()
        .noneMatch(e -> e.message().contains("marker before")) && System.nanoTime() < logged) {
      Thread.sleep(20);
    }

    HttpRequest sse = HttpRequest.newBuilder(URI.create(t.baseUrl() + "/api/v1/containers/logs/logs?replay=10"))
        .header("Authorization", "Bearer " + TestServer.ADMIN)
        .header("Accept", "text/event-stream")
        .GET().build();
    HttpResponse<Stream<String>> stream = http.send(sse, HttpResponse.BodyHandlers.ofLines());
    assertThat(stream.statusCode()).isEqualTo(200);
    assertThat(stream.headers().firstValue("content-type").orElse("")).startsWith("text/event-stream");

    ExecutorService reader = Executors.newSingleThreadExecutor();
    List<String> seen = java.util.Collections.synchronizedList(new ArrayList<>());
    Iterator<String> lines = stream.body().iterator();
    Future<Boolean> found = reader.submit(() -> {
      while (lines.hasNext()) {
        String line = lines.next();
        seen.add(line);
        if (line.startsWith("data:") && line.contains("marker live-42")) {
          return true;
        }
      }
      return false;
    });
    assertThat(send("POST", "/run/logs/chatty", null, "{\"id\": \"live-42\"}").statusCode()).isEqualTo(200);
    assertThat(found.get(30, TimeUnit.SECONDS)).isTrue();
    assertThat(seen).anyMatch(l -> l.contains("marker before"));
    assertThat(seen).anyMatch(l -> l.equals("event: replay"));
    assertThat(seen).anyMatch(l -> l.equals("event: log"));
    JsonNode event = Json.MAPPER.readTree(seen.stream().filter(l -> l.contains("marker live-42"))
        .findFirst().orElseThrow().substring("data:".length()));
    assertThat(event.path("webhook").asText()).isEqualTo("chatty");
    assertThat(event.path("level").asText()).isEqualTo("log");
    assertThat(event.path("container").asText()).isEqualTo("logs");

    assertThat(t.server.openLogStreams()).isEqualTo(1);
    stream.body().close();
    reader.shutdownNow();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
    while (t.server.openLogStreams() > 0 && System.nanoTime() < deadline) {
      Thread.sleep(50);
    }
    assertThat(t.server.openLogStreams()).isZero();
  }
}
