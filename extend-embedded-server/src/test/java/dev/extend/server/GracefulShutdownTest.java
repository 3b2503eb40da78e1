package dev.extend.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.ConnectException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** close() lets an in-flight invocation finish, then refuses connections and closes the platform. */
class GracefulShutdownTest {
  @Test
  void inFlightInvocationsFinishBeforeTheServerStops() throws Exception {
    try (TestServer t = TestServer.start()) {
      t.put("slow", "nap", "module.exports = async (ctx) => { "
          + "if (ctx.query.ms) await new Promise((r) => setTimeout(r, Number(ctx.query.ms))); return 'done'; }");
      HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
      String base = t.baseUrl();
      // Assign the sandbox first, so the slow call below is in flight at once.
      assertThat(http.send(HttpRequest.newBuilder(URI.create(base + "/run/slow/nap")).build(),
          HttpResponse.BodyHandlers.ofString()).body()).isEqualTo("done");

      CompletableFuture<HttpResponse<String>> inFlight = http.sendAsync(
          HttpRequest.newBuilder(URI.create(base + "/run/slow/nap?ms=2000")).timeout(Duration.ofSeconds(30)).build(),
          HttpResponse.BodyHandlers.ofString());
      Thread.sleep(500);
      t.server.close();

      HttpResponse<String> answered = inFlight.get(30, TimeUnit.SECONDS);
      assertThat(answered.statusCode()).isEqualTo(200);
      assertThat(answered.body()).isEqualTo("done");
      assertThat(inFlight).isDone();
      assertThatThrownBy(() -> http.send(HttpRequest.newBuilder(URI.create(base + "/healthz"))
          .timeout(Duration.ofSeconds(5)).build(), HttpResponse.BodyHandlers.ofString()))
          .isInstanceOf(ConnectException.class);
    }
  }
}
