package dev.extend.server;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.InputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Over a real socket: a webhook that works longer than the server's idle timeout is not cut off
 * (the connection is quiet because the webhook works; its own timeout bounds the call).
 */
class QuietConnectionsTest {
  static TestServer server;

  @BeforeAll
  static void start() throws Exception {
    server = TestServer.start(p -> p.maxInFlightPerContainer(1), s -> s.idleTimeout(java.time.Duration.ofSeconds(2)));
    server.put("patient", "slow",
        "module.exports = async (ctx) => { await new Promise((r) => setTimeout(r, Number(ctx.query.ms || 0))); return 'done'; }");
    assertThat(get("/run/patient/slow?ms=0")).startsWith("HTTP/1.1 200").endsWith("done");
  }

  @AfterAll
  static void stop() {
    if (server != null) {
      server.server.close();
    }
  }

  static String get(String path) throws Exception {
    try (Socket s = new Socket("127.0.0.1", server.server.port())) {
      s.setSoTimeout(20_000);
      s.getOutputStream().write(("GET " + path + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
          .getBytes(StandardCharsets.ISO_8859_1));
      InputStream in = s.getInputStream();
      return new String(in.readAllBytes(), StandardCharsets.ISO_8859_1).trim();
    }
  }

  /** A client that waits for a webhook longer than the idle timeout gets its answer all the same. */
  @Test
  void aPatientClientGetsItsAnswerPastTheIdleTimeout() throws Exception {
    assertThat(get("/run/patient/slow?ms=5000")).startsWith("HTTP/1.1 200").endsWith("done");
  }

  /** Beyond its in-flight limit a container is answered 429 with Retry-After, over the wire. */
  @Test
  void beyondTheInFlightLimitA429WithRetryAfter() throws Exception {
    Thread slow = new Thread(() -> {
      try {
        get("/run/patient/slow?ms=3000");
      } catch (Exception e) {
        // the test looks at the second call
      }
    });
    slow.start();
    Thread.sleep(500);
    String second = get("/run/patient/slow?ms=0");
    slow.join(20_000);
    assertThat(second).startsWith("HTTP/1.1 429").contains("Retry-After: 1").contains("too_many_requests")
        .contains("maxInFlightPerContainer");
  }
}
