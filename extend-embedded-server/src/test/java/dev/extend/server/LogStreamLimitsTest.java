package dev.extend.server;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.eclipse.jetty.http.HttpTester;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Log streams are limited per token and per container under a global ceiling, so one tenant
 * cannot take every stream; and a stream ends within seconds of its token's revocation, made
 * through this server or elsewhere.
 */
class LogStreamLimitsTest {
  private static final int TOTAL = 6;
  private static final int PER_TOKEN = 2;
  private static final int PER_CONTAINER = 4;
  private static TestServer t;
  private final List<Socket> sockets = new ArrayList<>();

  @BeforeAll
  static void start() throws IOException {
    t = TestServer.start(p -> {}, s -> s
        .logStreamLimits(TOTAL, PER_TOKEN, PER_CONTAINER)
        // fewer management threads than open streams: a stream must not hold one
        .managementThreads(4)
        .logHeartbeat(Duration.ofMillis(200)));
  }

  @AfterAll
  static void stop() throws IOException {
    t.close();
  }

  @AfterEach
  void closeStreams() throws Exception {
    for (Socket s : sockets) {
      s.close();
    }
    sockets.clear();
    long until = System.nanoTime() + 10_000_000_000L;
    while (t.server.openLogStreams() > 0 && System.nanoTime() < until) {
      Thread.sleep(20);
    }
  }

  /** A token for the containers; its id and secret. */
  private static String[] token(String... containers) {
    HttpTester.Response r = t.admin("POST", "/api/v1/tokens",
        "{\"containers\": [\"" + String.join("\", \"", containers) + "\"]}");
    assertThat(r.getStatus()).as(r.getContent()).isEqualTo(201);
    var n = ManagementApiTest.json(r);
    return new String[] {n.path("id").asText(), n.path("token").asText()};
  }

  /** Opens a log stream; the socket after its status line and headers, or the refusal's text. */
  private Object stream(String token, String container) throws IOException {
    Socket s = new Socket();
    s.connect(new InetSocketAddress("127.0.0.1", t.server.port()), 5000);
    sockets.add(s);
    s.setSoTimeout(5000);
    s.getOutputStream().write(("GET /api/v1/containers/" + container + "/logs?replay=0 HTTP/1.1\r\nHost: localhost\r\n"
        + "Authorization: Bearer " + token + "\r\nConnection: close\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1));
    String head = readHead(s.getInputStream());
    if (head.startsWith("HTTP/1.1 200")) {
      return s;
    }
    return head + new String(s.getInputStream().readAllBytes(), StandardCharsets.ISO_8859_1);
  }

  private static String readHead(InputStream in) throws IOException {
    StringBuilder sb = new StringBuilder();
    while (!sb.toString().endsWith("\r\n\r\n")) {
      int b = in.read();
      if (b < 0) {
        break;
      }
      sb.append((char) b);
    }
    return sb.toString();
  }

  /** Whether the stream ends (the server closes it) within {@code seconds}. */
  private static boolean endsWithin(Socket s, int seconds) throws IOException {
    long until = System.nanoTime() + seconds * 1_000_000_000L;
    s.setSoTimeout(500);
    byte[] buf = new byte[4096];
    while (System.nanoTime() < until) {
      try {
        if (s.getInputStream().read(buf) < 0) {
          return true;
        }
      } catch (SocketTimeoutException quiet) {
        // heartbeats come every 200 ms; go on waiting
      }
    }
    return false;
  }

  private static void assertRefused(Object answer, String limit) {
    assertThat(answer).isInstanceOf(String.class);
    String text = (String) answer;
    assertThat(text).startsWith("HTTP/1.1 429").containsIgnoringCase("Retry-After: 5")
        .contains("\"too_many_streams\"").contains(limit);
  }

  @Test
  void oneTenantCannotTakeEveryStream() throws Exception {
    String[] a1 = token("tenant-a");
    String[] a2 = token("tenant-a");
    String[] a3 = token("tenant-a");
    String[] b = token("tenant-b");
    String[] c = token("tenant-c");
    // per token
    assertThat(stream(a1[1], "tenant-a")).isInstanceOf(Socket.class);
    assertThat(stream(a1[1], "tenant-a")).isInstanceOf(Socket.class);
    assertRefused(stream(a1[1], "tenant-a"), "per token");
    // per container: a second token of the same tenant fills the container's share...
    assertThat(stream(a2[1], "tenant-a")).isInstanceOf(Socket.class);
    assertThat(stream(a2[1], "tenant-a")).isInstanceOf(Socket.class);
    assertRefused(stream(a3[1], "tenant-a"), "per container");
    // ...and another tenant still gets its streams
    Object b1 = stream(b[1], "tenant-b");
    assertThat(b1).isInstanceOf(Socket.class);
    assertThat(stream(b[1], "tenant-b")).isInstanceOf(Socket.class);
    // the global ceiling
    assertRefused(stream(c[1], "tenant-c"), "the most it allows");
    assertThat(t.server.openLogStreams()).isEqualTo(TOTAL);
    assertThat(t.admin("GET", "/api/v1/containers/tenant-a/webhooks", null).getStatus()).isEqualTo(200);
    // a stream that ends frees its place
    ((Socket) b1).close();
    long until = System.nanoTime() + 10_000_000_000L;
    Object c1 = null;
    while (System.nanoTime() < until && !((c1 = stream(c[1], "tenant-c")) instanceof Socket)) {
      Thread.sleep(100);
    }
    assertThat(c1).isInstanceOf(Socket.class);
  }

  @Test
  void revokingATokenThroughThisServerEndsItsStreamsAtOnce() throws Exception {
    String[] tok = token("revoked-here");
    Socket s = (Socket) stream(tok[1], "revoked-here");
    assertThat(t.admin("DELETE", "/api/v1/tokens/" + tok[0], null).getStatus()).isEqualTo(204);
    assertThat(endsWithin(s, 5)).isTrue();
  }

  @Test
  void revokingATokenElsewhereEndsItsStreamsWithinSeconds() throws Exception {
    String[] tok = token("revoked-elsewhere");
    Socket s = (Socket) stream(tok[1], "revoked-elsewhere");
    // as another node would: straight in the shared token store, this server not told
    assertThat(t.platform.revokeToken(tok[0])).isTrue();
    assertThat(endsWithin(s, 10)).isTrue();
  }
}
