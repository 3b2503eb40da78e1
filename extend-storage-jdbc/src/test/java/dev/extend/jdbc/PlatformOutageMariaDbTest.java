package dev.extend.jdbc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.extend.ContainerName;
import dev.extend.InvocationRequest;
import dev.extend.InvocationResponse;
import dev.extend.ServerlessPlatform;
import dev.extend.UnavailableException;
import dev.extend.WebhookRef;
import dev.extend.WebhookSpec;
import dev.extend.spi.SandboxRuntime;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Set;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A whole platform on JDBC stores on a private MariaDB server, with the local process runtime
 * and real Node: while the database is down, a warm webhook keeps answering from the node's
 * metadata cache and its running sandbox, management calls fail with 503, and everything
 * recovers when the database is back, without restarting the platform.
 */
class PlatformOutageMariaDbTest {

  private static final Path NODE = Path.of("/usr/bin/node");

  @TempDir
  Path data;

  @Test
  void warmWebhookKeepsAnsweringWhileTheDatabaseIsDown() throws Exception {
    if (!Files.isExecutable(NODE)) {
      if ("true".equalsIgnoreCase(System.getenv("CI"))) {
        throw new AssertionError(NODE + " is required");
      }
      Assumptions.abort(NODE + " is not installed: skipping");
    }
    try (PrivateMariaDb server = PrivateMariaDb.start()) {
      server.createDatabase("extend");
      try (JdbcStorage storage = JdbcStorage.builder().jdbcUrl(server.url("extend")).user("root").password("")
              .poolSize(4).connectionTimeout(Duration.ofSeconds(2)).secretKeys(SecretKeyRing.generate("k"))
              .build();
          ServerlessPlatform platform = ServerlessPlatform.builder()
              .dataDir(data).nodeId("outage-node")
              .sandboxRuntime(SandboxRuntime.localProcesses())
              .functionStore(storage.functionStore()).artifactStore(storage.artifactStore())
              .moduleStore(storage.moduleStore()).buildQueue(storage.buildQueue()).tokenStore(storage.tokenStore())
              .poolSize(1).maxSandboxes(4).sandboxWaitTimeout(Duration.ofSeconds(20))
              .metadataRefresh(Duration.ofSeconds(1))
              .build()) {
        assertThat(platform.pool().awaitWarm(Duration.ofSeconds(30))).isTrue();
        WebhookRef ref = WebhookRef.of("acme", "greet");
        platform.put(ref, WebhookSpec.builder("module.exports = async (ctx) => ({hi: ctx.secrets.NAME, v: 1})")
            .secret("NAME", "Ada").build());
        try (InvocationResponse r = platform.invoke(ref, InvocationRequest.get())) {
          assertThat(r.status()).isEqualTo(200);
          assertThat(r.bodyText()).isEqualTo("{\"hi\":\"Ada\",\"v\":1}");
        }

        server.kill();

        for (int i = 0; i < 5; i++) {
          long start = System.nanoTime();
          try (InvocationResponse r = platform.invoke(ref, InvocationRequest.get())) {
            assertThat(r.status()).isEqualTo(200);
            assertThat(r.bodyText()).isEqualTo("{\"hi\":\"Ada\",\"v\":1}");
          }
          System.out.printf("invocation %d during the outage: %d ms%n", i, (System.nanoTime() - start) / 1_000_000);
          Thread.sleep(400);
        }
        assertThatThrownBy(() -> platform.put(WebhookRef.of("acme", "other"),
            WebhookSpec.builder("module.exports = () => 1").build())).isInstanceOf(UnavailableException.class);
        assertThatThrownBy(() -> platform.get(ref)).isInstanceOf(UnavailableException.class);
        assertThatThrownBy(() -> platform.list(ContainerName.of("acme"), 10, null))
            .isInstanceOf(UnavailableException.class);
        assertThatThrownBy(() -> platform.createToken(Set.of(ContainerName.of("acme")), "during outage"))
            .isInstanceOf(UnavailableException.class);

        server.startServer();

        JdbcOutageMariaDbTest.awaitRecovery(() -> platform.get(ref));
        platform.put(ref, WebhookSpec.builder("module.exports = async (ctx) => ({hi: ctx.secrets.NAME, v: 2})")
            .secret("NAME", "Grace").build());
        try (InvocationResponse r = platform.invoke(ref, InvocationRequest.get())) {
          assertThat(r.status()).isEqualTo(200);
          assertThat(r.bodyText()).isEqualTo("{\"hi\":\"Grace\",\"v\":2}");
        }
        assertThat(platform.createToken(Set.of(ContainerName.of("acme")), "after outage").id()).isNotEmpty();
      }
    }
  }
}
