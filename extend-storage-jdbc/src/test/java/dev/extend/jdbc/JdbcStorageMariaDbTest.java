package dev.extend.jdbc;

import static org.assertj.core.api.Assertions.assertThat;

import dev.extend.Limits;
import dev.extend.ModuleRef;
import dev.extend.WebhookRef;
import dev.extend.spi.BuildJob;
import dev.extend.spi.BuildQueue;
import dev.extend.spi.WebhookRecord;
import dev.extend.testing.Race;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Several {@link JdbcStorage} instances (as on several nodes) on one database of the shared MariaDB. */
class JdbcStorageMariaDbTest {

  private static final SecretKeyRing KEYS = SecretKeyRing.generate("node-key");
  private String database;
  private final List<JdbcStorage> open = new ArrayList<>();

  @BeforeEach
  void createDatabase() {
    database = SharedMariaDb.createDatabase();
  }

  @AfterEach
  void dropDatabase() {
    open.forEach(JdbcStorage::close);
    SharedMariaDb.dropDatabase(database);
  }

  private JdbcStorage node() {
    JdbcStorage s = SharedMariaDb.open(database, KEYS);
    open.add(s);
    return s;
  }

  private static WebhookRecord webhook(WebhookRef ref, String code, Map<String, String> secrets) {
    return new WebhookRecord(ref, code, List.of(), secrets, Map.of(), new Limits(Duration.ofSeconds(5), 128), "node22", 0,
        null, null);
  }

  @Test
  void nodesStartingTogetherOnAFreshDatabaseMigrateOnce() throws Exception {
    List<Race.Outcome<JdbcStorage>> outcomes = Race.run(4, i -> () -> SharedMariaDb.open(database, KEYS));
    for (Race.Outcome<JdbcStorage> o : outcomes) {
      if (o.ok()) {
        open.add(o.value());
      }
    }
    assertThat(outcomes).allSatisfy(o -> assertThat(o.error()).isNull());
    try (Connection c = SharedMariaDb.connect(database); Statement s = c.createStatement();
        ResultSet rs = s.executeQuery("SELECT version, success FROM extend_schema_history WHERE version IS NOT NULL")) {
      List<String> rows = new ArrayList<>();
      while (rs.next()) {
        rows.add(rs.getString(1) + ":" + rs.getBoolean(2));
      }
      assertThat(rows).containsExactly("1:true", "2:true", "3:true", "4:true", "5:true");
    }
    WebhookRef ref = WebhookRef.of("acme", "hook");
    open.get(0).functionStore().put(webhook(ref, "x", Map.of()), OptionalLong.empty());
    assertThat(open.get(3).functionStore().get(ref)).isPresent();
  }

  @Test
  void aWebhookWrittenOnOneNodeIsReadOnAnother() {
    JdbcStorage a = node();
    JdbcStorage b = node();
    WebhookRef ref = WebhookRef.of("acme", "shared");
    WebhookRecord written = a.functionStore().put(webhook(ref, "v1", Map.of("TOKEN", "t-1")), OptionalLong.empty());

    assertThat(b.functionStore().get(ref)).contains(written);
    WebhookRecord v2 = b.functionStore().put(webhook(ref, "v2", Map.of("TOKEN", "t-2")), OptionalLong.of(1));
    assertThat(a.functionStore().version(ref)).hasValue(2);
    assertThat(a.functionStore().get(ref)).contains(v2);
  }

  @Test
  void rawRowsHoldNoPlaintextSecret() throws Exception {
    String secret = "plaintext-must-not-appear-" + System.nanoTime();
    WebhookRef ref = WebhookRef.of("acme", "secretive");
    node().functionStore().put(webhook(ref, "code", Map.of("API_KEY", secret)), OptionalLong.empty());
    RawRows.assertNoColumnContains(SharedMariaDb.connect(database), "webhooks", secret.getBytes(StandardCharsets.UTF_8),
        "node-key");
  }

  @Test
  void competingConsumersOnTwoNodesNeverRunAJobTwice() throws Exception {
    JdbcStorage a = node();
    JdbcStorage b = node();
    int jobs = 200;
    for (int i = 0; i < jobs; i++) {
      (i % 2 == 0 ? a : b).buildQueue().enqueue(new ModuleRef("pkg-" + i, "1.0.0"));
    }
    Set<Long> taken = ConcurrentHashMap.newKeySet();
    Set<Long> twice = ConcurrentHashMap.newKeySet();
    List<Race.Outcome<Integer>> outcomes = Race.run(16, t -> () -> {
      BuildQueue q = (t % 2 == 0 ? a : b).buildQueue();
      int n = 0;
      for (Optional<BuildJob> j; (j = q.take("node" + (t % 2) + "-w" + t, Duration.ofMinutes(5))).isPresent(); ) {
        if (!taken.add(j.get().id())) {
          twice.add(j.get().id());
        }
        q.complete(j.get());
        n++;
      }
      return n;
    });
    assertThat(outcomes).allSatisfy(o -> assertThat(o.error()).isNull());
    assertThat(twice).isEmpty();
    assertThat(taken).hasSize(jobs);
    assertThat(outcomes.stream().mapToInt(Race.Outcome::value).sum()).isEqualTo(jobs);
    assertThat(a.buildQueue().depth()).isZero();
  }

  @Test
  void aJobWhoseWorkerDiedIsTakenByAnotherNode() throws Exception {
    JdbcStorage a = node();
    JdbcStorage b = node();
    a.buildQueue().enqueue(new ModuleRef("left-pad", "1.3.0"));
    BuildJob lost = a.buildQueue().take("node-a", Duration.ofMillis(300)).orElseThrow();
    // node-a "dies": it neither renews nor completes.
    assertThat(b.buildQueue().take("node-b", Duration.ofMinutes(1))).isEmpty();
    Thread.sleep(800);

    BuildJob retaken = b.buildQueue().take("node-b", Duration.ofMinutes(1)).orElseThrow();
    assertThat(retaken.id()).isEqualTo(lost.id());
    assertThat(retaken.attempt()).isEqualTo(2);
    assertThat(a.buildQueue().renew(lost, "node-a", Duration.ofMinutes(1))).isFalse();
    b.buildQueue().complete(retaken);
    assertThat(a.buildQueue().depth()).isZero();
  }

  @Test
  void moduleRecordsAreCreatedOnceAcrossNodes() throws Exception {
    JdbcStorage a = node();
    JdbcStorage b = node();
    ModuleRef m = new ModuleRef("express", "4.21.2");
    List<Race.Outcome<Boolean>> outcomes = Race.run(10, i -> () -> (i % 2 == 0 ? a : b).moduleStore().createIfAbsent(m));
    assertThat(outcomes.stream().filter(o -> o.ok() && o.value()).count()).isEqualTo(1);
    assertThat(outcomes).allMatch(Race.Outcome::ok);
  }

  @Test
  void aWebhookAtEverySizeLimitFitsTheServersPacketSize() {
    // Quotes and backslashes are escaped on the wire: the worst case for max_allowed_packet.
    String code = "'\\".repeat(JdbcFunctionStore.MAX_CODE_BYTES / 2);
    String secret = "\u0000'".repeat((JdbcFunctionStore.MAX_SECRETS_BYTES - 64) / 8);
    String meta = "'".repeat(JdbcFunctionStore.MAX_META_BYTES - 64);
    WebhookRef ref = WebhookRef.of("acme", "huge");
    WebhookRecord record = new WebhookRecord(ref, code, List.of(), Map.of("K", secret), Map.of("m", meta),
        new Limits(Duration.ofSeconds(5), 128), "node22", 0, null, null);
    JdbcStorage a = node();
    a.functionStore().put(record, OptionalLong.empty());
    WebhookRecord read = a.functionStore().get(ref).orElseThrow();
    assertThat(read.code()).isEqualTo(code);
    assertThat(read.secrets().get("K")).isEqualTo(secret);
    assertThat(read.meta().get("m")).isEqualTo(meta);
  }

  @Test
  void aTokenRevokedOnOneNodeIsRejectedOnTheOtherAtOnce() {
    JdbcStorage a = node();
    JdbcStorage b = node();
    dev.extend.spi.TokenRecord token = new dev.extend.spi.TokenRecord("tok-1",
        dev.extend.testing.TokenStoreContract.sha256("secret"), Set.of(dev.extend.ContainerName.of("acme")), "ci",
        java.time.Instant.parse("2026-01-01T00:00:00Z"));
    a.tokenStore().create(token);
    assertThat(b.tokenStore().findByHash(token.hash())).contains(token);
    assertThat(b.tokenStore().revoke("tok-1")).isTrue();
    assertThat(a.tokenStore().findByHash(token.hash())).isEmpty();
    assertThat(a.tokenStore().revoke("tok-1")).isFalse();
  }

  @Test
  void fromEnvironmentReadsUrlCredentialsAndKeys(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) {
    SecretKeyRing keys = SecretKeyRing.generate("env-key");
    Map<String, String> env = Map.of("EXTEND_JDBC_URL", SharedMariaDb.url(database), "EXTEND_JDBC_USER", "root",
        "EXTEND_JDBC_PASSWORD", "", "EXTEND_JDBC_POOL_SIZE", "3", SecretKeyRing.ENV, keys.toSpec());
    try (JdbcStorage s = JdbcStorage.fromEnvironment(env, dir)) {
      assertThat(s.databaseName()).isEqualTo(SharedMariaDb.url(database));
      s.functionStore().put(webhook(WebhookRef.of("acme", "env"), "x", Map.of("K", "v")), OptionalLong.empty());
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
    try (JdbcStorage s = SharedMariaDb.open(database, keys)) {
      assertThat(s.functionStore().get(WebhookRef.of("acme", "env")).orElseThrow().secrets()).containsEntry("K", "v");
    }
  }
}
