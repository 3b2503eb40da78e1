package dev.extend.server;

import static dev.extend.server.ManagementApiTest.assertError;
import static dev.extend.server.ManagementApiTest.json;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.extend.ContainerName;
import dev.extend.EgressPolicy;
import java.io.IOException;
import java.util.List;
import org.eclipse.jetty.http.HttpTester;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** {@code GET/PUT/DELETE /api/v1/containers/{container}/egress} in memory, against a real platform. */
class EgressApiTest {
  private static TestServer t;

  @BeforeAll
  static void start() throws IOException {
    t = TestServer.start(p -> p.egress(EgressPolicy.of("public", List.of("10.0.0.5:5432"))), s -> {});
  }

  @AfterAll
  static void stop() throws IOException {
    t.close();
  }

  private static String uri(String container) {
    return "/api/v1/containers/" + container + "/egress";
  }

  private static void assertField(HttpTester.Response r, String field) {
    assertError(r, 400, "validation_failed");
    assertThat(json(r).path("error").path("field").asText()).as(r.getContent()).isEqualTo(field);
  }

  @Test
  void roundTrip() {
    JsonNode fresh = json(t.admin("GET", uri("rt"), null));
    assertThat(fresh.path("mode").asText()).isEqualTo("public");
    assertThat(fresh.path("allow")).isEmpty();
    assertThat(fresh.path("default").asBoolean()).isTrue();
    assertThat(fresh.path("platformAllow").toString()).isEqualTo("[\"10.0.0.5:5432\"]");
    assertThat(fresh.path("enforced").asBoolean()).as("the local runtime").isFalse();

    HttpTester.Response put = t.admin("PUT", uri("rt"),
        "{\"mode\": \"allowlist\", \"allow\": [\"api.slack.com:443\", \"203.0.113.0/24\"]}");
    assertThat(put.getStatus()).as(put.getContent()).isEqualTo(200);
    assertThat(put.get("Content-Type")).startsWith("application/json");
    JsonNode stored = json(put);
    assertThat(stored.path("mode").asText()).isEqualTo("allowlist");
    assertThat(stored.path("allow").toString()).isEqualTo("[\"api.slack.com:443\",\"203.0.113.0/24\"]");
    assertThat(stored.path("default").asBoolean()).isFalse();
    assertThat(stored.path("platformAllow").toString()).isEqualTo("[\"10.0.0.5:5432\"]");
    assertThat(json(t.admin("GET", uri("rt"), null))).isEqualTo(stored);
    assertThat(t.platform.egressPolicy(ContainerName.of("rt")).allowStrings())
        .containsExactly("api.slack.com:443", "203.0.113.0/24", "10.0.0.5:5432");

    HttpTester.Response none = t.admin("PUT", uri("rt"), "{\"mode\": \"none\"}");
    assertThat(json(none).path("mode").asText()).isEqualTo("none");
    assertThat(json(none).path("allow")).isEmpty();

    HttpTester.Response deleted = t.admin("DELETE", uri("rt"), null);
    assertThat(deleted.getStatus()).isEqualTo(204);
    assertThat(json(t.admin("GET", uri("rt"), null))).isEqualTo(fresh);
    assertThat(t.admin("DELETE", uri("rt"), null).getStatus()).as("idempotent").isEqualTo(204);
  }

  @Test
  void bodiesAreValidatedNamingTheField() {
    assertField(t.admin("PUT", uri("val"), "{\"mode\": \"open\"}"), "mode");
    assertField(t.admin("PUT", uri("val"), "{\"mode\": 1}"), "mode");
    assertField(t.admin("PUT", uri("val"), "{\"allow\": []}"), "mode");
    assertField(t.admin("PUT", uri("val"), "{\"mode\": \"allowlist\", \"allow\": [\"ok.example.com\", \"no good\"]}"),
        "allow[1]");
    assertField(t.admin("PUT", uri("val"), "{\"mode\": \"allowlist\", \"allow\": [\"a.example.com:99999\"]}"),
        "allow[0]");
    assertField(t.admin("PUT", uri("val"), "{\"mode\": \"allowlist\", \"allow\": \"api.slack.com\"}"), "allow");
    assertField(t.admin("PUT", uri("val"), "{\"mode\": \"allowlist\", \"allow\": [\"a.example.com\", 7]}"), "allow[1]");
    assertField(t.admin("PUT", uri("val"), "{\"mode\": \"public\", \"ports\": [443]}"), "ports");
    assertField(t.admin("PUT", uri("val"), "[\"public\"]"), "body");
    assertField(t.admin("PUT", uri("val"), ""), "body");
    assertField(t.admin("PUT", uri("val"), "{\"mode\": \"public\""), "body");
    StringBuilder many = new StringBuilder("{\"mode\": \"allowlist\", \"allow\": [");
    for (int i = 0; i <= EgressPolicy.MAX_ENTRIES; i++) {
      many.append(i == 0 ? "" : ", ").append("\"h").append(i).append(".example.com\"");
    }
    assertField(t.admin("PUT", uri("val"), many.append("]}").toString()), "allow");
    assertField(t.admin("GET", uri("Not_Valid"), null), "container");
    // nothing was stored by any of these
    assertThat(json(t.admin("GET", uri("val"), null)).path("default").asBoolean()).isTrue();
  }

  @Test
  void onlyAdminsReadOrChangePolicies() {
    String token = json(t.admin("POST", "/api/v1/tokens", "{\"containers\": [\"tenant\"]}")).path("token").asText();
    assertError(t.as(token, "GET", uri("tenant"), null), 403, "forbidden");
    assertError(t.as(token, "PUT", uri("tenant"), "{\"mode\": \"public\"}"), 403, "forbidden");
    assertError(t.as(token, "DELETE", uri("tenant"), null), 403, "forbidden");
    assertError(t.as(null, "GET", uri("tenant"), null), 401, "unauthorized");
    assertError(t.as(null, "PUT", uri("tenant"), "{\"mode\": \"public\"}"), 401, "unauthorized");
    assertError(t.as("wrong", "DELETE", uri("tenant"), null), 401, "unauthorized");
    assertThat(t.platform.storedEgressPolicy(ContainerName.of("tenant"))).isEmpty();
  }

  @Test
  void readinessSaysTheDevelopmentRuntimeDoesNotEnforce() {
    HttpTester.Response ready = t.as(null, "GET", "/readyz", null);
    assertThat(ready.getStatus()).as(ready.getContent()).isEqualTo(200);
    assertThat(json(ready).path("egress").asText()).startsWith("NOT ENFORCED").contains("host's network");
  }

  @Test
  void deletingTheContainerDeletesItsPolicy() {
    assertThat(t.admin("PUT", uri("gone"), "{\"mode\": \"none\"}").getStatus()).isEqualTo(200);
    assertThat(t.admin("DELETE", "/api/v1/containers/gone", null).getStatus()).isEqualTo(204);
    assertThat(json(t.admin("GET", uri("gone"), null)).path("default").asBoolean()).isTrue();
  }
}
