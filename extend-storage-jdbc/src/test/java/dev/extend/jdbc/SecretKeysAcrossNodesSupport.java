package dev.extend.jdbc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.extend.ExtendException;
import dev.extend.Limits;
import dev.extend.WebhookRef;
import dev.extend.spi.WebhookRecord;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.TreeMap;
import org.assertj.core.api.ThrowableAssert.ThrowingCallable;
import org.flywaydb.core.Flyway;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Several storages on one database, as on several nodes, each with its own secret keys: a
 * webhook without secrets needs no key; a node whose keys cannot read the database's secrets, or
 * differ from the keys recorded for their ids, is refused at start-up with the key ids and the
 * settings to set, and a running one writes no secrets the others cannot read; a node with the
 * same keys reads everything; rotation keeps working. The keys of nodes A and B share the id
 * {@code k1}, as those of two nodes that each made their own {@code secret.keys} do. Subclasses
 * say which database.
 */
abstract class SecretKeysAcrossNodesSupport {

  static final WebhookRef WITH = WebhookRef.of("acme", "with-secret");
  static final WebhookRef WITHOUT = WebhookRef.of("acme", "without-secrets");

  final SecretKeyRing keysOfA = SecretKeyRing.generate("k1");
  final SecretKeyRing keysOfB = SecretKeyRing.generate("k1");
  private final List<JdbcStorage> open = new ArrayList<>();

  /** The one database's URL, as a node is given it. */
  abstract String url();

  abstract String user();

  abstract String password();

  /** A node with these keys on the database. */
  JdbcStorage node(SecretKeyRing keys) {
    JdbcStorage s = JdbcStorage.builder().jdbcUrl(url()).user(user()).password(password()).poolSize(2)
        .secretKeys(keys).build();
    open.add(s);
    return s;
  }

  @AfterEach
  void closeNodes() {
    open.forEach(JdbcStorage::close);
    open.clear();
  }

  /** The URL a plain connection opens (H2's with the settings the store adds). */
  private String driverUrl() {
    return JdbcStorage.driverUrl(Dialect.of(url()), url());
  }

  /** A plain connection to the database, no Extend code. */
  Connection connect() throws SQLException {
    return DriverManager.getConnection(driverUrl(), user(), password());
  }

  static WebhookRecord webhook(WebhookRef ref, Map<String, String> secrets) {
    return new WebhookRecord(ref, "module.exports = () => 1", List.of(), secrets, Map.of(),
        new Limits(Duration.ofSeconds(5), 128), "node22", 0, null, null);
  }

  private static ExtendException refusedStart(ThrowingCallable start) {
    ExtendException e = catchThrowableOfType(ExtendException.class, start);
    assertThat(e).as("start-up is refused").isNotNull();
    assertThat(e.code()).isEqualTo("secret_key_unavailable");
    return e;
  }

  private static String keyMaterial(SecretKeyRing keys) {
    return keys.toSpec().substring(keys.toSpec().indexOf(':') + 1);
  }

  @Test
  void aNodeWhoseKeysDifferIsRefusedAtStartUpNamingTheKeyIdsAndTheSettings() {
    JdbcStorage a = node(keysOfA);
    a.functionStore().put(webhook(WITH, Map.of("TOKEN", "t-1")), OptionalLong.empty());
    a.functionStore().put(webhook(WITHOUT, Map.of()), OptionalLong.empty());

    ExtendException sameId = refusedStart(() -> node(keysOfB));
    assertThat(sameId.getMessage())
        .contains("[k1]").contains("differ")
        .contains(SecretKeyRing.ENV).contains(SecretKeyRing.ENV_FILE).contains("secret.keys")
        .doesNotContain(keyMaterial(keysOfA)).doesNotContain(keyMaterial(keysOfB));

    ExtendException otherId = refusedStart(() -> node(SecretKeyRing.generate("k9")));
    assertThat(otherId.getMessage())
        .contains("[k9]").contains("encrypted with key(s) [k1], which this node lacks")
        .contains("the database uses key(s) [k1]").contains(SecretKeyRing.ENV);

    // The keys of A, as another node reads them from EXTEND_SECRET_KEYS: it reads both webhooks.
    JdbcStorage b = node(SecretKeyRing.parse(keysOfA.toSpec(), SecretKeyRing.ENV));
    assertThat(b.functionStore().get(WITH).orElseThrow().secrets()).containsEntry("TOKEN", "t-1");
    assertThat(b.functionStore().get(WITHOUT).orElseThrow().secrets()).isEmpty();
    b.functionStore().put(webhook(WITH, Map.of("TOKEN", "t-2")), OptionalLong.of(1));
    assertThat(a.functionStore().get(WITH).orElseThrow().secrets()).containsEntry("TOKEN", "t-2");
  }

  @Test
  void aWebhookWithoutSecretsNeedsNoKeyOnAnyNode() throws Exception {
    JdbcStorage a = node(keysOfA);
    a.functionStore().put(webhook(WITHOUT, Map.of()), OptionalLong.empty());
    // No secrets anywhere yet: nodes with other keys start, and read and write such webhooks.
    JdbcStorage b = node(keysOfB);
    JdbcStorage c = node(SecretKeyRing.generate("k9"));
    assertThat(b.functionStore().get(WITHOUT).orElseThrow().code()).isEqualTo("module.exports = () => 1");
    assertThat(c.functionStore().get(WITHOUT)).isPresent();
    b.functionStore().put(webhook(WebhookRef.of("acme", "from-b"), Map.of()), OptionalLong.empty());
    assertThat(a.functionStore().get(WebhookRef.of("acme", "from-b"))).isPresent();
    try (Connection raw = connect(); Statement s = raw.createStatement();
        ResultSet rs = s.executeQuery("SELECT secrets_key_id, secrets FROM webhooks")) {
      while (rs.next()) {
        assertThat(rs.getString(1)).isEmpty();
        assertThat(rs.getBytes(2)).isEmpty();
      }
    }

    // A writes secrets, recording its key k1. The running B and C still read the webhook without
    // secrets, but write no secrets the others could not read: B's k1 differs, C holds none of
    // the database's keys.
    a.functionStore().put(webhook(WITH, Map.of("TOKEN", "t-1")), OptionalLong.empty());
    assertThat(b.functionStore().get(WITHOUT)).isPresent();
    assertThat(c.functionStore().get(WITHOUT)).isPresent();
    assertThatThrownBy(() -> b.functionStore().put(webhook(WebhookRef.of("acme", "b-secret"), Map.of("K", "v")),
        OptionalLong.empty()))
        .isInstanceOf(ExtendException.class).hasMessageContaining("[k1]").hasMessageContaining("differ");
    assertThatThrownBy(() -> c.functionStore().put(webhook(WebhookRef.of("acme", "c-secret"), Map.of("K", "v")),
        OptionalLong.empty()))
        .isInstanceOf(ExtendException.class).hasMessageContaining("this node holds none of the keys the database records");
    assertThat(a.functionStore().get(WebhookRef.of("acme", "b-secret"))).isEmpty();
    assertThat(a.functionStore().get(WebhookRef.of("acme", "c-secret"))).isEmpty();
    // New nodes with those keys do not start any more.
    refusedStart(() -> node(keysOfB));
    refusedStart(() -> node(SecretKeyRing.generate("k9")));
  }

  @Test
  void ofTwoNodesStartedTogetherWithDifferentKeysOfOneIdOnlyTheFirstWritesSecrets() {
    JdbcStorage a = node(keysOfA);
    JdbcStorage b = node(keysOfB); // both started on a database without secrets
    a.functionStore().put(webhook(WITH, Map.of("TOKEN", "a")), OptionalLong.empty());
    assertThatThrownBy(() -> b.functionStore().put(webhook(WebhookRef.of("acme", "b"), Map.of("T", "b")),
        OptionalLong.empty())).isInstanceOf(ExtendException.class).hasMessageContaining("differ");
    a.functionStore().put(webhook(WITH, Map.of("TOKEN", "a2")), OptionalLong.of(1));
    assertThat(a.functionStore().get(WITH).orElseThrow().secrets()).containsEntry("TOKEN", "a2");
  }

  @Test
  void rotationKeepsWorking() {
    JdbcStorage a = node(keysOfA);
    a.functionStore().put(webhook(WITH, Map.of("TOKEN", "old")), OptionalLong.empty());
    // A node with a new primary key and the old one starts, and records the new key when it writes.
    SecretKeyRing rotated = SecretKeyRing.generate("k2").withOlder(keysOfA);
    JdbcStorage r = node(rotated);
    assertThat(r.functionStore().get(WITH).orElseThrow().secrets()).containsEntry("TOKEN", "old");
    WebhookRef written = WebhookRef.of("acme", "rotated");
    r.functionStore().put(webhook(written, Map.of("TOKEN", "new")), OptionalLong.empty());
    // Nodes with both keys read both; one with the old key alone is refused (k2 is in use).
    assertThat(node(SecretKeyRing.parse(rotated.toSpec())).functionStore().get(written).orElseThrow().secrets())
        .containsEntry("TOKEN", "new");
    assertThat(refusedStart(() -> node(SecretKeyRing.parse(keysOfA.toSpec()))).getMessage())
        .contains("encrypted with key(s) [k2], which this node lacks");
    // Once every row is re-encrypted, the new key alone is enough.
    r.functionStore().put(webhook(WITH, Map.of("TOKEN", "re-encrypted")), OptionalLong.of(1));
    JdbcStorage onlyNew = node(SecretKeyRing.parse(rotated.toSpec().split(",")[0]));
    assertThat(onlyNew.functionStore().get(WITH).orElseThrow().secrets()).containsEntry("TOKEN", "re-encrypted");
  }

  /**
   * A database written before key checks existed (migrated to V4 only, its rows in the old form,
   * where even "no secrets" was encrypted): a key that does not open the existing secrets is
   * refused, the right one reads them, and the webhook without secrets needs no key after the
   * migration.
   */
  @Test
  void rowsWrittenBeforeKeyChecksExisted() throws Exception {
    Flyway.configure(JdbcStorage.class.getClassLoader())
        .dataSource(driverUrl(), user(), password())
        .locations("classpath:dev/extend/jdbc/migration").table("extend_schema_history")
        .placeholders(Dialect.of(url()).placeholders()).target("4").load().migrate();
    insertOldRow(WITHOUT, Map.of(), keysOfA);
    insertOldRow(WITH, Map.of("TOKEN", "old"), keysOfA);

    assertThat(refusedStart(() -> node(keysOfB)).getMessage()).contains("[k1]").contains("differ");
    JdbcStorage a = node(keysOfA);
    assertThat(a.functionStore().get(WITH).orElseThrow().secrets()).containsEntry("TOKEN", "old");
    assertThat(a.functionStore().get(WITHOUT).orElseThrow().secrets()).isEmpty();
    try (Connection c = connect(); PreparedStatement ps = c.prepareStatement(
        "SELECT secrets_key_id FROM webhooks WHERE name = ?")) {
      ps.setString(1, WITHOUT.name().value());
      try (ResultSet rs = ps.executeQuery()) {
        assertThat(rs.next()).isTrue();
        assertThat(rs.getString(1)).isEmpty();
      }
    }

    // Without the webhook that has secrets, any keys start, and read the other.
    a.functionStore().delete(WITH, OptionalLong.empty());
    JdbcStorage b = node(keysOfB);
    assertThat(b.functionStore().get(WITHOUT).orElseThrow().secrets()).isEmpty();
  }

  // A row as stores before key checks wrote it: the secrets' JSON encrypted, even when empty.
  private void insertOldRow(WebhookRef ref, Map<String, String> secrets, SecretKeyRing keys) throws Exception {
    String json = new ObjectMapper().writeValueAsString(new TreeMap<>(secrets));
    byte[] sealed = keys.encrypt(json.getBytes(StandardCharsets.UTF_8), JdbcFunctionStore.associatedData(ref));
    try (Connection c = connect(); PreparedStatement ps = c.prepareStatement("INSERT INTO webhooks (container, name,"
        + " code, dependencies, secrets, secrets_key_id, meta, timeout_ms, memory_mb, runtime, version, created_at,"
        + " updated_at) VALUES (?, ?, 'module.exports = () => 1', '[]', ?, ?, '{}', 5000, 128, 'node22', 1, 1, 1)")) {
      ps.setString(1, ref.container().value());
      ps.setString(2, ref.name().value());
      ps.setBytes(3, sealed);
      ps.setString(4, keys.primaryId());
      ps.executeUpdate();
    }
  }
}
