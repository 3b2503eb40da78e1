package dev.extend.server;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.extend.ModuleRef;
import dev.extend.spi.ModuleBuilder;
import java.io.IOException;
import java.nio.file.Path;
import java.util.function.Consumer;
import org.eclipse.jetty.http.HttpTester;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Build logs are read only by the tenants whose webhooks depend on the module (and admins),
 * never shown by {@code /run}, and never carry registry credentials.
 */
class BuildLogAccessTest {
  private static TestServer t;

  /** A builder whose build fails after logging what npm logs: the registry URL with its credentials. */
  static final class FailingBuilder implements ModuleBuilder {
    @Override
    public void build(ModuleRef module, dev.extend.NodeRuntime runtime, Path runtimeDir, Path workDir, Path output,
        Consumer<String> log) throws ModuleBuildException {
      log.accept("$ npm install --registry https://ci:s3cr3t@npm.internal/ " + module);
      log.accept("npm ERR! 401 Unauthorized: //npm.internal/:_authToken=npm_T0KEN was refused");
      throw new ModuleBuildException("npm install " + module + " failed");
    }
  }

  @BeforeAll
  static void start() throws IOException {
    t = TestServer.start(p -> p.moduleBuilder(new FailingBuilder()).buildWorkers(1), s -> {});
    HttpTester.Response r = t.admin("PUT", "/api/v1/containers/tenant-a/webhooks/uses",
        "{\"code\": \"module.exports = async () => 1\", \"dependencies\": {\"private-pkg\": \"1.0.0\"}}");
    assertThat(r.getStatus()).as(r.getContent()).isEqualTo(201);
    t.put("tenant-b", "other", "module.exports = async () => 2");
    long until = System.nanoTime() + 30_000_000_000L;
    while (!ManagementApiTest.json(t.admin("GET", "/api/v1/modules/private-pkg/1.0.0", null))
        .path("state").asText().equals("failed") && System.nanoTime() < until) {
      Thread.onSpinWait();
    }
  }

  @AfterAll
  static void stop() throws IOException {
    t.close();
  }

  private static String token(String container) {
    return ManagementApiTest.json(t.admin("POST", "/api/v1/tokens", "{\"containers\": [\"" + container + "\"]}"))
        .path("token").asText();
  }

  @Test
  void theLogIsMaskedForThoseAllowedAndAbsentForOthers() {
    HttpTester.Response admin = t.admin("GET", "/api/v1/modules/private-pkg/1.0.0", null);
    assertThat(admin.getStatus()).isEqualTo(200);
    JsonNode module = ManagementApiTest.json(admin);
    assertThat(module.path("state").asText()).isEqualTo("failed");
    assertThat(module.path("log").asText()).contains("https://****@npm.internal/").contains("_authToken=****")
        .doesNotContain("s3cr3t").doesNotContain("npm_T0KEN");

    // the tenant whose webhook depends on it reads it
    HttpTester.Response dependent = t.as(token("tenant-a"), "GET", "/api/v1/modules/private-pkg/1.0.0", null);
    assertThat(dependent.getStatus()).isEqualTo(200);
    assertThat(ManagementApiTest.json(dependent).path("log").asText()).contains("npm ERR!").doesNotContain("s3cr3t");

    // another tenant cannot tell it from a module nobody uses
    String b = token("tenant-b");
    HttpTester.Response other = t.as(b, "GET", "/api/v1/modules/private-pkg/1.0.0", null);
    HttpTester.Response unknown = t.as(b, "GET", "/api/v1/modules/never-asked/1.0.0", null);
    assertThat(other.getStatus()).isEqualTo(404);
    assertThat(unknown.getStatus()).isEqualTo(404);
    assertThat(other.getContent()).doesNotContain("npm").doesNotContain("failed")
        .isEqualTo(unknown.getContent().replace("never-asked", "private-pkg"));
  }

  @Test
  void runNamesModuleStatesOnlyNeverTheirLogs() {
    HttpTester.Response run = t.send(TestServer.request("POST", "/run/tenant-a/uses"));
    assertThat(run.getStatus()).isEqualTo(409);
    JsonNode error = ManagementApiTest.json(run).path("error");
    assertThat(error.path("code").asText()).isEqualTo("modules_not_ready");
    assertThat(error.path("modules").get(0).path("name").asText()).isEqualTo("private-pkg");
    assertThat(error.path("modules").get(0).path("state").asText()).isEqualTo("failed");
    assertThat(error.path("modules").get(0).has("log")).isFalse();
    assertThat(run.getContent()).doesNotContain("npm.internal").doesNotContain("npm ERR").doesNotContain("****");
  }
}
