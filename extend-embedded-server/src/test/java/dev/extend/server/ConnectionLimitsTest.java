package dev.extend.server;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Connection caps on the main port, per remote address and in all, and the management listener,
 * which neither counts against them nor serves webhooks. Clients use several loopback addresses
 * (127.0.0.x) to be several remote addresses.
 */
class ConnectionLimitsTest {
  private static final int PER_ADDRESS = 20;
  private static final int TOTAL = 60;
  private static TestServer t;
  private final List<Socket> sockets = new ArrayList<>();

  @BeforeAll
  static void start() throws IOException {
    t = TestServer.start(p -> {}, s -> s
        .maxConnectionsPerAddress(PER_ADDRESS)
        .maxConnections(TOTAL)
        .managementPort(0));
  }

  @AfterAll
  static void stop() throws IOException {
    t.close();
  }

  @AfterEach
  void closeSockets() throws IOException {
    for (Socket s : sockets) {
      s.close();
    }
    sockets.clear();
  }

  private Socket open(String from, int port) throws IOException {
    Socket s = new Socket();
    s.bind(new InetSocketAddress(from, 0));
    s.connect(new InetSocketAddress("127.0.0.1", port), 5000);
    sockets.add(s);
    return s;
  }

  /** Whether the server closed the connection (read gives EOF) rather than keeping it open. */
  private static boolean closedByServer(Socket s) throws IOException {
    s.setSoTimeout(300);
    try {
      return s.getInputStream().read() < 0;
    } catch (SocketTimeoutException open) {
      return false;
    } catch (IOException reset) {
      return true;
    }
  }

  /** One request on a new connection from {@code from}; the status line, or null when none came in time. */
  private String call(String from, int port, String method, String path, int timeoutMs) throws IOException {
    Socket s = open(from, port);
    s.setSoTimeout(timeoutMs);
    s.getOutputStream().write((method + " " + path + " HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer "
        + TestServer.ADMIN + "\r\nConnection: close\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1));
    try {
      InputStream in = s.getInputStream();
      byte[] b = in.readNBytes(12);
      return b.length == 12 ? new String(b, StandardCharsets.ISO_8859_1) : null;
    } catch (SocketTimeoutException e) {
      return null;
    }
  }

  @Test
  void connectionsBeyondThePerAddressCapAreClosedAtOnce() throws Exception {
    List<Socket> mine = new ArrayList<>();
    for (int i = 0; i < PER_ADDRESS + 10; i++) {
      mine.add(open("127.0.0.2", t.server.port()));
    }
    int closed = 0;
    for (Socket s : mine) {
      if (closedByServer(s)) {
        closed++;
      }
    }
    assertThat(closed).isEqualTo(10);
    assertThat(t.server.connectionsRefused()).isGreaterThanOrEqualTo(10);
    // another address is not affected
    assertThat(call("127.0.0.3", t.server.port(), "GET", "/healthz", 5000)).isEqualTo("HTTP/1.1 200");
    // once this address closes its connections, it may open new ones
    for (Socket s : mine) {
      s.close();
    }
    long until = System.nanoTime() + 5_000_000_000L;
    String again = null;
    while (System.nanoTime() < until && again == null) {
      again = call("127.0.0.2", t.server.port(), "GET", "/healthz", 1000);
      Thread.sleep(50);
    }
    assertThat(again).isEqualTo("HTTP/1.1 200");
  }

  @Test
  void pastTheTotalCapNewConnectionsWaitAndTheManagementListenerStillAnswers() throws Exception {
    // TOTAL connections from three addresses, each within its own cap
    for (int i = 0; i < TOTAL; i++) {
      open("127.0.0." + (10 + i % 3), t.server.port());
    }
    Thread.sleep(200);
    // the main port accepts no more for now...
    assertThat(call("127.0.0.20", t.server.port(), "GET", "/healthz", 1000)).isNull();
    // ...while the management listener answers the admin at once
    assertThat(call("127.0.0.21", t.server.managementPort(), "GET", "/api/v1/containers/any/webhooks", 5000))
        .isEqualTo("HTTP/1.1 200");
    assertThat(call("127.0.0.21", t.server.managementPort(), "GET", "/healthz", 5000)).isEqualTo("HTTP/1.1 200");
  }

  @Test
  void theManagementRoutesLiveOnlyOnTheManagementListener() throws Exception {
    int main = t.server.port();
    int mgmt = t.server.managementPort();
    assertThat(mgmt).isPositive().isNotEqualTo(main);
    assertThat(call("127.0.0.30", main, "GET", "/api/v1/openapi.json", 5000)).isEqualTo("HTTP/1.1 404");
    assertThat(call("127.0.0.30", main, "GET", "/metrics", 5000)).isEqualTo("HTTP/1.1 404");
    assertThat(call("127.0.0.30", main, "GET", "/healthz", 5000)).isEqualTo("HTTP/1.1 200");
    assertThat(call("127.0.0.30", mgmt, "GET", "/api/v1/openapi.json", 5000)).isEqualTo("HTTP/1.1 200");
    assertThat(call("127.0.0.30", mgmt, "GET", "/metrics", 5000)).isEqualTo("HTTP/1.1 200");
    assertThat(call("127.0.0.30", mgmt, "POST", "/run/acme/hello", 5000)).isEqualTo("HTTP/1.1 404");
  }

  @Test
  void readinessDetailsAreShownOnTheManagementListenerOnly() throws Exception {
    assertThat(body("127.0.0.31", t.server.managementPort(), "/readyz")).contains("\"problems\"");
    String onMain = body("127.0.0.31", t.server.port(), "/readyz");
    assertThat(onMain).startsWith("HTTP/1.1 200").contains("\"status\":\"ready\"").doesNotContain("problems");
  }

  /** The whole answer to a GET without a token. */
  private String body(String from, int port, String path) throws IOException {
    Socket s = open(from, port);
    s.setSoTimeout(5000);
    s.getOutputStream().write(("GET " + path + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .getBytes(StandardCharsets.ISO_8859_1));
    return new String(s.getInputStream().readAllBytes(), StandardCharsets.ISO_8859_1);
  }
}
