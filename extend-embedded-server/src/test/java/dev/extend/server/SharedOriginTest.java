package dev.extend.server;

import static org.assertj.core.api.Assertions.assertThat;

import dev.extend.server.internal.SharedOrigin;
import java.io.IOException;
import java.util.List;
import org.eclipse.jetty.http.HttpTester;
import org.junit.jupiter.api.Test;

/**
 * On the path router a tenant's answer shares the management API's origin: it cannot set
 * cookies for other paths or domains, and its pages run sandboxed and are not sniffed. With
 * per-container host names the answer has its origin to itself.
 */
class SharedOriginTest {
  private static final String COOKIES = "module.exports = (ctx, req, res) => {"
      + " res.setHeader('set-cookie', ['a=1; Path=/', 'b=2; Path=/api/v1; HttpOnly', 'c=3; Domain=example.test',"
      + " '__Host-d=4; Path=/; Secure', 'e=5; Path=/run/acme/cookies/sub', 'f=6', 'g=7; path=/run/acme/cookiesX',"
      + " 'h=8; Path=/run/acme/cookies/../../../api', 'junk']);"
      + " res.setHeader('content-type', 'text/html'); res.end('<script>fetch(\"/api/v1/tokens\")</script>'); }";

  @Test
  void cookiesAreHeldToTheWebhooksPathAndDomainCookiesDropped() {
    String scope = "/run/acme/cookies";
    assertThat(SharedOrigin.scoped("a=1; Path=/", scope)).isEqualTo("a=1; Path=/run/acme/cookies");
    assertThat(SharedOrigin.scoped("b=2; Path=/api/v1; HttpOnly", scope)).isEqualTo("b=2; HttpOnly; Path=/run/acme/cookies");
    assertThat(SharedOrigin.scoped("c=3; Domain=example.test; Path=/run/acme/cookies", scope)).isNull();
    assertThat(SharedOrigin.scoped("__Host-d=4; Path=/; Secure", scope)).isNull();
    assertThat(SharedOrigin.scoped("e=5; Path=/run/acme/cookies/sub", scope)).isEqualTo("e=5; Path=/run/acme/cookies/sub");
    assertThat(SharedOrigin.scoped("f=6", scope)).isEqualTo("f=6; Path=/run/acme/cookies");
    assertThat(SharedOrigin.scoped("g=7; path=/run/acme/cookiesX", scope)).isEqualTo("g=7; Path=/run/acme/cookies");
    assertThat(SharedOrigin.scoped("h=8; Path=/run/acme/cookies/../../../api", scope)).isEqualTo("h=8; Path=/run/acme/cookies");
    assertThat(SharedOrigin.scoped("junk", scope)).isNull();
    assertThat(SharedOrigin.scoped("=x", scope)).isNull();
    assertThat(SharedOrigin.hostOnly("c=3; Domain=example.test")).isNull();
    assertThat(SharedOrigin.hostOnly("__Host-d=4; Path=/; Secure")).isEqualTo("__Host-d=4; Path=/; Secure");

    assertThat(SharedOrigin.scopeOf("/run/acme/hook", "/")).isEqualTo("/run/acme/hook");
    assertThat(SharedOrigin.scopeOf("/run/acme/hook/", "/")).isEqualTo("/run/acme/hook");
    assertThat(SharedOrigin.scopeOf("/run/acme/hook/x/y", "/x/y")).isEqualTo("/run/acme/hook");
  }

  private static List<String> cookies(HttpTester.Response r) {
    return r.getValuesList("Set-Cookie");
  }

  @Test
  void pathRoutedAnswersAreSandboxedAndTheirCookiesScoped() throws IOException {
    try (TestServer t = TestServer.start()) {
      t.put("acme", "cookies", COOKIES);
      HttpTester.Response r = t.send(TestServer.request("GET", "/run/acme/cookies/page"));
      assertThat(r.getStatus()).isEqualTo(200);
      assertThat(r.get("Content-Security-Policy")).isEqualTo("sandbox");
      assertThat(r.get("X-Content-Type-Options")).isEqualTo("nosniff");
      assertThat(cookies(r)).containsExactly("a=1; Path=/run/acme/cookies", "b=2; HttpOnly; Path=/run/acme/cookies",
          "e=5; Path=/run/acme/cookies/sub", "f=6; Path=/run/acme/cookies", "g=7; Path=/run/acme/cookies",
          "h=8; Path=/run/acme/cookies");
      // the API's own answers are not touched
      assertThat(t.admin("GET", "/api/v1/containers/acme/webhooks", null).get("Content-Security-Policy")).isNull();
    }
  }

  @Test
  void theOperatorMayTurnTheSandboxOffButCookiesStayScoped() throws IOException {
    try (TestServer t = TestServer.start(p -> {}, s -> s.sandboxPathRoutedAnswers(false))) {
      t.put("acme", "cookies", COOKIES);
      HttpTester.Response r = t.send(TestServer.request("GET", "/run/acme/cookies"));
      assertThat(r.get("Content-Security-Policy")).isNull();
      assertThat(r.get("X-Content-Type-Options")).isNull();
      assertThat(cookies(r)).contains("a=1; Path=/run/acme/cookies").noneMatch(c -> c.startsWith("c="));
    }
  }

  @Test
  void aContainerOnItsOwnHostKeepsItsCookiesButNoneForOtherHosts() throws IOException {
    try (TestServer t = TestServer.start(p -> {}, s -> s.hostDomain("hooks.test"))) {
      t.put("acme", "cookies", COOKIES);
      HttpTester.Request req = TestServer.request("GET", "/cookies");
      req.setHeader("Host", "acme.hooks.test");
      HttpTester.Response r = t.send(req);
      assertThat(r.getStatus()).isEqualTo(200);
      assertThat(r.get("Content-Security-Policy")).isNull();
      assertThat(cookies(r)).contains("a=1; Path=/", "__Host-d=4; Path=/; Secure").noneMatch(c -> c.startsWith("c="))
          .noneMatch(c -> c.equals("junk"));
    }
  }
}
