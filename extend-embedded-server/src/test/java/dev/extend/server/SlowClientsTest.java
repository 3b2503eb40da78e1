package dev.extend.server;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Clients that send their request bodies a byte at a time, as an attacker would: they are cut
 * off by the minimum data rate and the body deadline, and while hundreds of them hold the
 * server's shared threads, the management API still answers on its own threads.
 */
class SlowClientsTest {
  /** Trickling connections kept open at once (re-opened when the server cuts one). */
  private static final int ATTACKERS = 300;
  private static final int THREADS = 16;
  private static TestServer t;

  @BeforeAll
  static void start() throws IOException {
    t = TestServer.start(p -> {}, s -> s
        .maxThreads(THREADS)
        // the attack comes from one address: let every connection in, to test the thread budget
        .maxConnectionsPerAddress(10_000)
        .minRequestDataRate(64, Duration.ofSeconds(2))
        .requestBodyTimeout(Duration.ofSeconds(4)));
    t.put("victim", "echo", "module.exports = async (ctx) => ({ got: ctx.body })");
  }

  @AfterAll
  static void stop() throws IOException {
    t.close();
  }

  /** One attacking connection: a POST whose body comes one byte per tick. */
  private static final class Trickler {
    final Socket socket;
    final OutputStream out;
    final InputStream in;
    final boolean chunked;

    Trickler(int port, boolean chunked) throws IOException {
      this.chunked = chunked;
      socket = new Socket();
      socket.connect(new InetSocketAddress("127.0.0.1", port), 5000);
      out = socket.getOutputStream();
      in = socket.getInputStream();
      String head = "POST /run/victim/echo HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
          + (chunked ? "Transfer-Encoding: chunked\r\n" : "Content-Length: 1000000\r\n") + "\r\n";
      out.write(head.getBytes(StandardCharsets.ISO_8859_1));
      out.flush();
    }

    /** Sends one more byte; false when the server has answered or closed the connection. */
    boolean tick() {
      try {
        if (in.available() > 0) {
          return false;
        }
        out.write(chunked ? "1\r\n \r\n".getBytes(StandardCharsets.ISO_8859_1) : new byte[] {' '});
        out.flush();
        return true;
      } catch (IOException e) {
        return false;
      }
    }

    /** The status line the server answered, or null. */
    String answer() {
      try {
        socket.setSoTimeout(200);
        byte[] b = new byte[12];
        int n = in.readNBytes(b, 0, 12);
        return n == 12 ? new String(b, StandardCharsets.ISO_8859_1) : null;
      } catch (IOException e) {
        return null;
      }
    }

    void close() {
      try {
        socket.close();
      } catch (IOException e) {
        // gone already
      }
    }
  }

  @Test
  void managementApiAnswersWhileHundredsOfClientsTrickleBodies() throws Exception {
    AtomicBoolean attacking = new AtomicBoolean(true);
    AtomicInteger cut = new AtomicInteger();
    AtomicInteger answered408 = new AtomicInteger();
    AtomicInteger opened = new AtomicInteger();
    Thread attack = new Thread(() -> {
      List<Trickler> live = new ArrayList<>();
      try {
        while (attacking.get()) {
          while (live.size() < ATTACKERS && attacking.get()) {
            live.add(new Trickler(t.server.port(), live.size() % 2 == 0));
            opened.incrementAndGet();
          }
          for (int i = 0; i < live.size(); i++) {
            Trickler tr = live.get(i);
            if (!tr.tick()) {
              cut.incrementAndGet();
              String status = tr.answer();
              if (status != null && status.startsWith("HTTP/1.1 408")) {
                answered408.incrementAndGet();
              }
              tr.close();
              live.set(i, new Trickler(t.server.port(), tr.chunked));
              opened.incrementAndGet();
            }
          }
          Thread.sleep(500);
        }
      } catch (IOException | InterruptedException e) {
        throw new AssertionError(e);
      } finally {
        live.forEach(Trickler::close);
      }
    }, "trickle-attack");
    attack.setDaemon(true);
    attack.start();

    String list = "GET /api/v1/containers/victim/webhooks HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer "
        + TestServer.ADMIN + "\r\nConnection: close\r\n\r\n";
    assertThat(rawCall(t.server.port(), list)).startsWith("HTTP/1.1 200"); // warm before the attack
    long worstMs = 0;
    int calls = 0;
    List<Long> latencies = new ArrayList<>();
    try {
      // Wait until the attack is in full swing: every connection open and past the shared threads.
      long until = System.nanoTime() + 30_000_000_000L;
      while (opened.get() < ATTACKERS && System.nanoTime() < until) {
        Thread.sleep(50);
      }
      assertThat(opened.get()).isGreaterThanOrEqualTo(ATTACKERS);
      long end = System.nanoTime() + 10_000_000_000L;
      while (System.nanoTime() < end) {
        // a new connection per call, as curl or an operator's script makes
        long t0 = System.nanoTime();
        String answer = rawCall(t.server.port(), list);
        long ms = (System.nanoTime() - t0) / 1_000_000;
        worstMs = Math.max(worstMs, ms);
        latencies.add(ms);
        calls++;
        assertThat(answer).startsWith("HTTP/1.1 200").contains("\"echo\"");
        assertThat(ms).as("the management API answers within 5 s during the attack").isLessThan(5_000);
        Thread.sleep(100);
      }
    } finally {
      attacking.set(false);
      attack.join(30_000);
    }
    List<Long> sorted = new ArrayList<>(latencies);
    sorted.sort(null);
    System.out.printf("management API during a %d-connection trickle flood: %d calls, median %d ms, slowest %d ms; "
        + "%d trickling requests cut (%d answered 408), %d connections opened; in order: %s%n",
        ATTACKERS, calls, sorted.get(sorted.size() / 2), worstMs, cut.get(), answered408.get(), opened.get(), latencies);
    // every trickler was cut by the rate or the deadline, and told why when it listened
    assertThat(cut.get()).isGreaterThanOrEqualTo(ATTACKERS);
    assertThat(answered408.get()).isPositive();
  }

  /** One request on a new connection; the whole answer, or fails after 5 s. */
  static String rawCall(int port, String request) throws IOException {
    try (Socket s = new Socket()) {
      s.connect(new InetSocketAddress("127.0.0.1", port), 5000);
      s.setSoTimeout(5000);
      s.getOutputStream().write(request.getBytes(StandardCharsets.ISO_8859_1));
      return new String(s.getInputStream().readAllBytes(), StandardCharsets.ISO_8859_1);
    }
  }

  @Test
  void aBodyBelowTheMinimumRateIsAnswered408() throws Exception {
    try (Socket s = new Socket("127.0.0.1", t.server.port())) {
      s.setSoTimeout(15_000);
      OutputStream out = s.getOutputStream();
      out.write(("POST /run/victim/echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n")
          .getBytes(StandardCharsets.ISO_8859_1));
      long t0 = System.nanoTime();
      // 5 bytes/s, far below the 64 bytes/s required after the 2 s grace
      InputStream in = s.getInputStream();
      String answer = null;
      for (int i = 0; i < 100 && answer == null; i++) {
        try {
          out.write(' ');
          out.flush();
        } catch (IOException closed) {
          break;
        }
        Thread.sleep(200);
        if (in.available() > 0) {
          break;
        }
      }
      answer = new String(in.readAllBytes(), StandardCharsets.ISO_8859_1);
      long ms = (System.nanoTime() - t0) / 1_000_000;
      assertThat(answer).startsWith("HTTP/1.1 408").contains("\"request_timeout\"").contains("bytes/s");
      assertThat(ms).isLessThan(12_000);
    }
  }

  @Test
  void aBodyThatTakesLongerThanTheDeadlineIsAnswered408() throws Exception {
    try (Socket s = new Socket("127.0.0.1", t.server.port())) {
      s.setSoTimeout(15_000);
      OutputStream out = s.getOutputStream();
      out.write(("POST /run/victim/echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n")
          .getBytes(StandardCharsets.ISO_8859_1));
      InputStream in = s.getInputStream();
      // 100 bytes every 100 ms: fast enough for the rate, but it never ends
      byte[] chunk = ("64\r\n" + " ".repeat(100) + "\r\n").getBytes(StandardCharsets.ISO_8859_1);
      long t0 = System.nanoTime();
      for (int i = 0; i < 150; i++) {
        try {
          out.write(chunk);
          out.flush();
        } catch (IOException closed) {
          break;
        }
        Thread.sleep(100);
        if (in.available() > 0) {
          break;
        }
      }
      String answer = new String(in.readAllBytes(), StandardCharsets.ISO_8859_1);
      long ms = (System.nanoTime() - t0) / 1_000_000;
      assertThat(answer).startsWith("HTTP/1.1 408").contains("\"request_timeout\"").contains("within 4 s");
      assertThat(ms).isBetween(3_000L, 12_000L);
    }
  }

  @Test
  void anOrdinaryBodyStillGoesThrough() throws Exception {
    HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
    HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(t.baseUrl() + "/run/victim/echo"))
        .header("Content-Type", "application/json")
        .POST(HttpRequest.BodyPublishers.ofString("{\"a\": 1}")).build(), HttpResponse.BodyHandlers.ofString());
    assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
    assertThat(r.body()).contains("\"a\":1");
  }
}
