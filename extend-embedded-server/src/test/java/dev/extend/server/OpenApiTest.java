package dev.extend.server;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.extend.server.internal.ApiHandler;
import dev.extend.server.internal.Json;
import dev.extend.server.internal.RootHandler;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

/** The served OpenAPI document matches the routes the server really has. */
class OpenApiTest {
  private static final Set<String> METHODS = Set.of("get", "put", "post", "delete", "patch", "head", "options");

  private static Set<String> documented(JsonNode doc) {
    Set<String> out = new TreeSet<>();
    for (Map.Entry<String, JsonNode> p : doc.path("paths").properties()) {
      for (Iterator<String> ops = p.getValue().fieldNames(); ops.hasNext(); ) {
        String op = ops.next();
        if (METHODS.contains(op)) {
          out.add(op.toUpperCase(Locale.ROOT) + " " + p.getKey());
        }
      }
    }
    return out;
  }

  @Test
  void everyRouteIsDocumentedAndEveryDocumentedOperationAnswers() throws Exception {
    JsonNode doc = Json.MAPPER.readTree(ExtendServer.openApiDocument());
    assertThat(doc.path("openapi").asText()).startsWith("3.");
    Set<String> documented = documented(doc);
    Set<String> routes = new TreeSet<>(ApiHandler.ROUTES);
    routes.addAll(RootHandler.FIXED_ROUTES);
    assertThat(documented).isEqualTo(routes);

    try (TestServer t = TestServer.start()) {
      // What the parameters of the documented paths refer to.
      t.admin("PUT", "/api/v1/containers/acme/webhooks/hello",
          "{\"code\": \"module.exports = async () => 1\", \"dependencies\": {\"left-pad\": \"1.3.0\"}}");
      String tokenId = ManagementApiTest.json(t.admin("POST", "/api/v1/tokens", "{\"containers\": [\"acme\"]}"))
          .path("id").asText();
      Map<String, String> params = Map.of("container", "acme", "name", "hello", "module", "left-pad",
          "version", "1.3.0", "id", tokenId);
      Map<String, String> bodies = Map.of(
          "PUT /api/v1/containers/{container}/webhooks/{name}", "{\"code\": \"module.exports = async () => 2\"}",
          "POST /api/v1/tokens", "{\"containers\": [\"acme\"]}",
          "PUT /api/v1/containers/{container}/egress", "{\"mode\": \"allowlist\", \"allow\": [\"api.slack.com:443\"]}");

      HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
      List<String> ops = new ArrayList<>(documented);
      // Deletions last, so that everything else still finds what it refers to; the container's
      // deletion (which takes its webhooks and tokens along) after every other.
      ops.sort(Comparator.comparing((String op) -> op.startsWith("DELETE"))
          .thenComparing(op -> op.equals("DELETE /api/v1/containers/{container}"))
          .thenComparing(op -> op));
      List<String> failures = new ArrayList<>();
      for (String op : ops) {
        String method = op.substring(0, op.indexOf(' '));
        String path = op.substring(op.indexOf(' ') + 1);
        for (Map.Entry<String, String> p : params.entrySet()) {
          path = path.replace("{" + p.getKey() + "}", p.getValue());
        }
        String body = bodies.get(op);
        HttpRequest r = HttpRequest.newBuilder(URI.create(t.baseUrl() + path))
            .timeout(Duration.ofSeconds(30))
            .header("Authorization", "Bearer " + TestServer.ADMIN)
            .header("Content-Type", "application/json")
            .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body))
            .build();
        // Streams (the log route) answer their headers at once and never end: read only the status.
        HttpResponse<InputStream> res = http.send(r, HttpResponse.BodyHandlers.ofInputStream());
        res.body().close();
        if (res.statusCode() == 404 || res.statusCode() == 405) {
          failures.add(op + " -> " + res.statusCode());
        }
      }
      assertThat(failures).isEmpty();
    }
  }
}
