package dev.extend.jdbc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.extend.ExtendException;
import dev.extend.InvocationRequest;
import dev.extend.InvocationResponse;
import dev.extend.ServerlessPlatform;
import dev.extend.WebhookRef;
import dev.extend.WebhookSpec;
import dev.extend.spi.SandboxRuntime;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Whole platforms (local process runtime, real Node) as nodes on one database of the shared
 * MariaDB, each with its own secret keys, as two nodes that each made their own
 * {@code secret.keys}: webhooks without secrets answer on every node, a node whose keys differ
 * from those the database's secrets use does not start, and one with the same keys answers all.
 */
class SecretKeysPlatformMariaDbTest {

  private static final WebhookRef PLAIN = WebhookRef.of("acme", "plain");
  private static final WebhookRef LATER = WebhookRef.of("acme", "later");
  private static final WebhookRef SECRET = WebhookRef.of("acme", "secret");

  @TempDir
  Path data;

  private String database;

  @BeforeEach
  void createDatabase() {
    database = SharedMariaDb.createDatabase();
  }

  @AfterEach
  void dropDatabase() {
    SharedMariaDb.dropDatabase(database);
  }

  private JdbcStorage storage(SecretKeyRing keys) {
    return JdbcStorage.builder().jdbcUrl(SharedMariaDb.url(database)).user(SharedMariaDb.USER)
        .password(SharedMariaDb.PASSWORD).poolSize(3).secretKeys(keys).build();
  }

  private ServerlessPlatform node(String id, SecretKeyRing keys) {
    return ServerlessPlatform.builder()
        .dataDir(data.resolve(id)).nodeId(id)
        .sandboxRuntime(SandboxRuntime.localProcesses())
        .storage(storage(keys))
        .poolSize(1).maxSandboxes(2).sandboxWaitTimeout(Duration.ofSeconds(30))
        .build();
  }

  private static String answer(ServerlessPlatform node, WebhookRef ref) {
    try (InvocationResponse r = node.invoke(ref, InvocationRequest.get())) {
      return r.status() + " " + r.bodyText();
    }
  }

  @Test
  void webhooksWithoutSecretsAnswerEverywhereAndANodeWithOtherKeysDoesNotStart() {
    SecretKeyRing keysOfA = SecretKeyRing.generate("k1");
    try (ServerlessPlatform a = node("node-a", keysOfA)) {
      a.put(PLAIN, WebhookSpec.builder("module.exports = async () => ({plain: 1})").build());

      // Started while the database holds no secrets, B (keys of its own) answers webhooks without
      // secrets, also one written after A wrote secrets and recorded its key.
      try (ServerlessPlatform b = node("node-b", SecretKeyRing.generate("k1"))) {
        assertThat(answer(b, PLAIN)).isEqualTo("200 {\"plain\":1}");
        a.put(SECRET, WebhookSpec.builder("module.exports = async (ctx) => ({hi: ctx.secrets.NAME})")
            .secret("NAME", "Ada").build());
        a.put(LATER, WebhookSpec.builder("module.exports = async () => ({later: 1})").build());
        assertThat(answer(b, LATER)).isEqualTo("200 {\"later\":1}");
        assertThat(answer(a, SECRET)).isEqualTo("200 {\"hi\":\"Ada\"}");
      }

      // Now that secrets exist, a node with other keys does not start, and says what to set.
      assertThatThrownBy(() -> storage(SecretKeyRing.generate("k1")))
          .isInstanceOf(ExtendException.class)
          .hasMessageContaining("[k1]").hasMessageContaining("differ")
          .hasMessageContaining(SecretKeyRing.ENV);

      // With A's keys, as from EXTEND_SECRET_KEYS, a node starts and answers all three.
      try (ServerlessPlatform c = node("node-c", SecretKeyRing.parse(keysOfA.toSpec()))) {
        assertThat(answer(c, PLAIN)).isEqualTo("200 {\"plain\":1}");
        assertThat(answer(c, LATER)).isEqualTo("200 {\"later\":1}");
        assertThat(answer(c, SECRET)).isEqualTo("200 {\"hi\":\"Ada\"}");
      }
    }
  }
}
