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
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Webhooks that take their time do not hold a server thread each: with the smallest thread
 * pool the server allows, far more calls than it has threads are inside the webhook at once.
 */
class SlowWebhooksTest {
  private static final int THREADS = 16;
  private static final int CALLS = 120;
  private static final String SLOW = """
      let active = 0;
      let peak = 0;
      module.exports = async (ctx) => {
        active++;
        peak = Math.max(peak, active);
        await new Promise((resolve) => setTimeout(resolve, 500));
        active--;
        return { n: ctx.body.n, peak };
      };
      """;
  private static TestServer t;
  private static HttpClient http;

  @BeforeAll
  static void start() throws IOException {
    t = TestServer.start(p -> p.poolSize(2), s -> s.maxThreads(THREADS));
    t.put("patient", "slow", SLOW);
    http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
        .connectTimeout(Duration.ofSeconds(10)).build();
  }

  @AfterAll
  static void stop() throws IOException {
    t.close();
  }

  @Test
  void manyMoreCallsThanThreadsRunAtOnce() throws Exception {
    List<CompletableFuture<HttpResponse<String>>> calls = new ArrayList<>();
    for (int i = 0; i < CALLS; i++) {
      HttpRequest r = HttpRequest.newBuilder(URI.create(t.baseUrl() + "/run/patient/slow"))
          .timeout(Duration.ofSeconds(120))
          .header("Content-Type", "application/json")
          .POST(HttpRequest.BodyPublishers.ofString("{\"n\": " + i + "}"))
          .build();
      calls.add(http.sendAsync(r, HttpResponse.BodyHandlers.ofString()));
    }
    int peak = 0;
    for (int i = 0; i < CALLS; i++) {
      HttpResponse<String> r = calls.get(i).get(180, TimeUnit.SECONDS);
      assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
      JsonNode body = Json.MAPPER.readTree(r.body());
      assertThat(body.path("n").asInt()).isEqualTo(i);
      peak = Math.max(peak, body.path("peak").asInt());
    }
    // a server thread per call in flight could never have had more than THREADS inside
    assertThat(peak).isGreaterThan(THREADS);
  }
}
