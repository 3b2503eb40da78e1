package dev.extend.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import dev.extend.server.internal.Json;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Forwarding headers reach webhooks only from trusted proxies; a client's own claims about where
 * it came from are replaced by what the connection says.
 */
class ForwardedHeadersTest {
  private static final String ECHO = "module.exports = async (ctx) => ctx.headers";
  private static final String CLAIMS = "X-Forwarded-For: 203.0.113.9\r\nX-Forwarded-Proto: https\r\n"
      + "X-Forwarded-Host: admin.example\r\nX-Forwarded-Port: 443\r\nForwarded: for=203.0.113.9;proto=https\r\n"
      + "X-Real-IP: 203.0.113.9\r\nTrue-Client-IP: 203.0.113.9\r\n";

  /** The headers the webhook saw for a request from {@code from} carrying the claims. */
  private static JsonNode seen(TestServer t, String from) throws IOException {
    try (Socket s = new Socket()) {
      s.bind(new InetSocketAddress(from, 0));
      s.connect(new InetSocketAddress("127.0.0.1", t.server.port()), 5000);
      s.setSoTimeout(30_000);
      s.getOutputStream().write(("GET /run/acme/echo HTTP/1.1\r\nHost: hooks.example:8080\r\n" + CLAIMS
          + "Connection: close\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1));
      String answer = new String(s.getInputStream().readAllBytes(), StandardCharsets.ISO_8859_1);
      assertThat(answer).startsWith("HTTP/1.1 200");
      return Json.MAPPER.readTree(answer.substring(answer.indexOf("\r\n\r\n") + 4));
    }
  }

  @Test
  void withoutTrustedProxiesTheClaimsAreReplacedByTheConnection() throws Exception {
    try (TestServer t = TestServer.start()) {
      t.put("acme", "echo", ECHO);
      JsonNode h = seen(t, "127.0.0.5");
      assertThat(h.path("x-forwarded-for").asText()).isEqualTo("127.0.0.5");
      assertThat(h.path("x-forwarded-proto").asText()).isEqualTo("http");
      assertThat(h.path("x-forwarded-host").asText()).isEqualTo("hooks.example:8080");
      for (String dropped : List.of("x-forwarded-port", "forwarded", "x-real-ip", "true-client-ip")) {
        assertThat(h.has(dropped)).as(dropped).isFalse();
      }
    }
  }

  @Test
  void aTrustedProxysHeadersPassWithItsAddressAppended() throws Exception {
    try (TestServer t = TestServer.start(p -> {}, s -> s.trustedProxies(List.of("127.0.0.7", "10.0.0.0/8")))) {
      t.put("acme", "echo", ECHO);
      JsonNode viaProxy = seen(t, "127.0.0.7");
      assertThat(viaProxy.path("x-forwarded-for").asText()).isEqualTo("203.0.113.9, 127.0.0.7");
      assertThat(viaProxy.path("x-forwarded-proto").asText()).isEqualTo("https");
      assertThat(viaProxy.path("x-forwarded-host").asText()).isEqualTo("admin.example");
      assertThat(viaProxy.path("forwarded").asText()).isEqualTo("for=203.0.113.9;proto=https");
      assertThat(viaProxy.path("x-real-ip").asText()).isEqualTo("203.0.113.9");
      // another address, even on the same host, is not the proxy
      JsonNode direct = seen(t, "127.0.0.8");
      assertThat(direct.path("x-forwarded-for").asText()).isEqualTo("127.0.0.8");
      assertThat(direct.path("x-forwarded-proto").asText()).isEqualTo("http");
      assertThat(direct.has("forwarded")).isFalse();
    }
  }

  @Test
  void aMalformedProxyListStopsTheBuild() throws Exception {
    java.nio.file.Path dir = java.nio.file.Files.createTempDirectory("extend-proxies");
    try (dev.extend.ServerlessPlatform p = dev.extend.ServerlessPlatform.builder().dataDir(dir)
        .sandboxRuntime(dev.extend.spi.SandboxRuntime.localProcesses()).poolSize(0).buildWorkers(0)
        .build()) {
      assertThatThrownBy(() -> ExtendServer.builder(p).trustedProxies(List.of("10.0.0.0/99")).build())
          .isInstanceOf(IllegalStateException.class).hasMessageContaining("trustedProxies");
    } finally {
      dev.extend.testing.TempDirs.delete(dir);
    }
  }
}
