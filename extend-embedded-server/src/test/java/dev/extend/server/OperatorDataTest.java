package dev.extend.server;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import org.eclipse.jetty.http.HttpTester;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * On one listener, {@code /metrics} and what {@code /readyz} says is wrong are for admins;
 * {@code /healthz} and the bare readiness status are for anyone (load balancers).
 */
class OperatorDataTest {
  private static TestServer t;

  @BeforeAll
  static void start() throws IOException {
    t = TestServer.start();
  }

  @AfterAll
  static void stop() throws IOException {
    t.close();
  }

  private static String tenantToken() {
    return ManagementApiTest.json(t.admin("POST", "/api/v1/tokens", "{\"containers\": [\"acme\"]}")).path("token").asText();
  }

  @Test
  void anyoneGetsHealthAndTheBareReadiness() {
    assertThat(t.as(null, "GET", "/healthz", null).getStatus()).isEqualTo(200);
    for (String token : new String[] {null, tenantToken(), "not-a-valid-token-at-all"}) {
      HttpTester.Response ready = t.as(token, "GET", "/readyz", null);
      assertThat(ready.getStatus()).isEqualTo(200);
      assertThat(ManagementApiTest.json(ready).path("status").asText()).isEqualTo("ready");
      assertThat(ManagementApiTest.json(ready).has("problems")).isFalse();
    }
  }

  @Test
  void metricsAndReadinessDetailsAreForAdmins() {
    ManagementApiTest.assertError(t.as(null, "GET", "/metrics", null), 401, "unauthorized");
    ManagementApiTest.assertError(t.as(tenantToken(), "GET", "/metrics", null), 403, "forbidden");
    HttpTester.Response metrics = t.admin("GET", "/metrics", null);
    assertThat(metrics.getStatus()).isEqualTo(200);
    assertThat(metrics.getContent()).contains("extend_pool_warm");
    HttpTester.Response ready = t.admin("GET", "/readyz", null);
    assertThat(ManagementApiTest.json(ready).has("problems")).isTrue();
    // an admin token the platform issued counts too
    String issuedAdmin = ManagementApiTest.json(t.admin("POST", "/api/v1/tokens", "{\"containers\": []}"))
        .path("token").asText();
    assertThat(t.as(issuedAdmin, "GET", "/metrics", null).getStatus()).isEqualTo(200);
  }

  @Test
  void theOperatorMayOpenThemToEveryone() throws IOException {
    try (TestServer open = TestServer.start(p -> {}, s -> s.operatorDataPublic(true))) {
      assertThat(open.as(null, "GET", "/metrics", null).getStatus()).isEqualTo(200);
      assertThat(ManagementApiTest.json(open.as(null, "GET", "/readyz", null)).has("problems")).isTrue();
    }
  }
}
