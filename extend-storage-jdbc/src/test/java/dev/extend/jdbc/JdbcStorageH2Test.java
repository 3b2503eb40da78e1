package dev.extend.jdbc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.extend.ExtendException;
import dev.extend.Limits;
import dev.extend.PayloadTooLargeException;
import dev.extend.UnavailableException;
import dev.extend.WebhookRef;
import dev.extend.spi.WebhookRecord;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.sql.DriverManager;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@link JdbcStorage} on its embedded default, an H2 file database: keys, encryption at rest, limits. */
class JdbcStorageH2Test {

  @TempDir
  Path dir;

  private static WebhookRecord webhook(String name, String code, Map<String, String> secrets) {
    return new WebhookRecord(WebhookRef.of("acme", name), code, List.of(), secrets, Map.of(),
        new Limits(Duration.ofSeconds(5), 128), "node22", 0, null, null);
  }

  private java.sql.Connection rawConnection() throws Exception {
    return DriverManager.getConnection("jdbc:h2:file:" + dir.resolve("extend") + ";MODE=MySQL;DATABASE_TO_LOWER=TRUE",
        "sa", "");
  }

  @Test
  void embeddedDefaultPersistsAcrossRestartsWithAGeneratedKeyFile() throws Exception {
    Path keyFile = dir.resolve("secret.keys");
    try (JdbcStorage s = JdbcStorage.h2(dir, SecretKeyRing.loadOrCreate(keyFile))) {
      s.functionStore().put(webhook("hook", "v1", Map.of("K", "secret")), OptionalLong.empty());
    }
    assertThat(Files.getPosixFilePermissions(keyFile)).isEqualTo(PosixFilePermissions.fromString("rw-------"));
    try (JdbcStorage s = JdbcStorage.h2(dir, SecretKeyRing.loadOrCreate(keyFile))) {
      assertThat(s.functionStore().get(WebhookRef.of("acme", "hook")).orElseThrow().secrets())
          .isEqualTo(Map.of("K", "secret"));
    }
  }

  @Test
  void h2WritesEachCommitToTheFileBeforeItReturns() throws Exception {
    assertThat(JdbcStorage.h2Url("jdbc:h2:file:/data/extend")).endsWith(";WRITE_DELAY=0");
    assertThat(JdbcStorage.h2Url("jdbc:h2:file:/data/extend;write_delay=0"))
        .contains(";write_delay=0").doesNotContain("WRITE_DELAY");
    assertThatThrownBy(() -> JdbcStorage.builder().jdbcUrl("jdbc:h2:file:" + dir.resolve("extend") + ";WRITE_DELAY=500")
        .secretKeys(SecretKeyRing.generate("k")).build())
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("WRITE_DELAY=500").hasMessageContaining("lose acknowledged writes");

    // The setting the open database runs with (a connection of its own sees the same database).
    try (JdbcStorage s = JdbcStorage.h2(dir, SecretKeyRing.generate("k"));
        var c = rawConnection(); var st = c.createStatement();
        var rs = st.executeQuery("SELECT setting_value FROM information_schema.settings WHERE setting_name = 'WRITE_DELAY'")) {
      assertThat(rs.next()).isTrue();
      assertThat(rs.getString(1)).isEqualTo("0");
    }
  }

  @Test
  void rawRowsHoldNoPlaintextSecret() throws Exception {
    String secret = "plaintext-must-not-appear-" + System.nanoTime();
    try (JdbcStorage s = JdbcStorage.h2(dir, SecretKeyRing.generate("k1"))) {
      s.functionStore().put(webhook("a", "code", Map.of("API_KEY", secret)), OptionalLong.empty());
      s.functionStore().put(webhook("b", "code", Map.of("OTHER", secret + "-2", "API_KEY", secret)),
          OptionalLong.empty());
    }
    RawRows.assertNoColumnContains(rawConnection(), "webhooks", secret.getBytes(StandardCharsets.UTF_8), "k1");
  }

  @Test
  void rowsWrittenUnderAnOldKeyStayReadableAfterRotation() throws Exception {
    SecretKeyRing old = SecretKeyRing.generate("k0");
    try (JdbcStorage s = JdbcStorage.h2(dir, old)) {
      s.functionStore().put(webhook("a", "code", Map.of("K", "a-secret")), OptionalLong.empty());
      s.functionStore().put(webhook("b", "code", Map.of("K", "b-secret")), OptionalLong.empty());
    }
    SecretKeyRing rotated = SecretKeyRing.generate("k1").withOlder(old);
    assertThat(rotated.primaryId()).isEqualTo("k1");
    assertThat(rotated.ids()).containsExactly("k1", "k0");
    try (JdbcStorage s = JdbcStorage.h2(dir, rotated)) {
      assertThat(s.functionStore().get(WebhookRef.of("acme", "a")).orElseThrow().secrets()).containsEntry("K", "a-secret");
      // An update re-encrypts with the new primary key.
      s.functionStore().put(webhook("a", "code", Map.of("K", "a-secret-2")), OptionalLong.empty());
      assertThat(s.functionStore().get(WebhookRef.of("acme", "b")).orElseThrow().secrets()).containsEntry("K", "b-secret");
    }

    // The ring through the environment-variable text form.
    SecretKeyRing parsed = SecretKeyRing.parse(rotated.toSpec());
    try (JdbcStorage s = JdbcStorage.h2(dir, parsed)) {
      assertThat(s.functionStore().get(WebhookRef.of("acme", "a")).orElseThrow().secrets()).containsEntry("K", "a-secret-2");
    }

    // Without k0, which still encrypts "b": start-up fails and names the key.
    SecretKeyRing withoutOld = SecretKeyRing.parse(rotated.toSpec().split(",")[0]);
    assertThatThrownBy(() -> JdbcStorage.h2(dir, withoutOld))
        .isInstanceOf(ExtendException.class)
        .hasMessageContaining("[k0]")
        .extracting(e -> ((ExtendException) e).code()).isEqualTo("secret_key_unavailable");
  }

  @Test
  void aKeyWithTheRightIdButWrongBytesIsRefusedAtStartUp() throws Exception {
    try (JdbcStorage s = JdbcStorage.h2(dir, SecretKeyRing.generate("k0"))) {
      s.functionStore().put(webhook("a", "code", Map.of("K", "v")), OptionalLong.empty());
    }
    Path keyFile = dir.resolve("other.keys");
    SecretKeyRing other = SecretKeyRing.loadOrCreate(keyFile);
    Files.writeString(keyFile, other.toSpec().replaceFirst("^k1:", "k0:"));
    assertThatThrownBy(() -> JdbcStorage.h2(dir, SecretKeyRing.fromFile(keyFile)))
        .isInstanceOf(ExtendException.class)
        .hasMessageContaining("[k0]")
        .hasMessageContaining("differ")
        .hasMessageContaining("from the key file " + keyFile.toAbsolutePath());
  }

  @Test
  void valuesLargerThanTheColumnsAreRejectedBeforeAnySql() throws Exception {
    try (JdbcStorage s = JdbcStorage.h2(dir, SecretKeyRing.generate("k"))) {
      String huge = "x".repeat(JdbcFunctionStore.MAX_CODE_BYTES + 1);
      assertThatThrownBy(() -> s.functionStore().put(webhook("big", huge, Map.of()), OptionalLong.empty()))
          .isInstanceOf(PayloadTooLargeException.class).hasMessageStartingWith("code:");
      String bigSecret = "s".repeat(JdbcFunctionStore.MAX_SECRETS_BYTES);
      assertThatThrownBy(() -> s.functionStore().put(webhook("big", "c", Map.of("K", bigSecret)), OptionalLong.empty()))
          .isInstanceOf(PayloadTooLargeException.class).hasMessageStartingWith("secrets:");
      assertThat(s.functionStore().get(WebhookRef.of("acme", "big"))).isEmpty();
    }
  }

  @Test
  void theArtifactCapOfTheStoreBoundsEveryPut() throws Exception {
    try (JdbcStorage s = JdbcStorage.builder().jdbcUrl("jdbc:h2:file:" + dir.resolve("extend")).user("sa")
        .secretKeys(SecretKeyRing.generate("k")).maxArtifactBytes(1000).build()) {
      assertThatThrownBy(() -> s.artifactStore().put(new java.io.ByteArrayInputStream(new byte[1001]), Long.MAX_VALUE))
          .isInstanceOf(PayloadTooLargeException.class).hasMessageContaining("1000");
      assertThat(s.artifactStore().put(new java.io.ByteArrayInputStream(new byte[1000]), Long.MAX_VALUE).size())
          .isEqualTo(1000);
    }
    try (var c = rawConnection(); var st = c.createStatement();
        var rs = st.executeQuery("SELECT COUNT(*) FROM artifact_chunks")) {
      rs.next();
      assertThat(rs.getInt(1)).as("chunks of the rejected upload are gone").isEqualTo(1);
    }
  }

  @Test
  void anUnreachableDatabaseFailsStartUpWithUnavailable() throws Exception {
    int port;
    try (ServerSocket s = new ServerSocket(0)) {
      port = s.getLocalPort(); // closed again: nothing listens there
    }
    int closedPort = port;
    assertThatThrownBy(() -> JdbcStorage.builder().jdbcUrl("jdbc:mysql://127.0.0.1:" + closedPort + "/extend")
        .user("root").secretKeys(SecretKeyRing.generate("k")).connectionTimeout(Duration.ofSeconds(1)).build())
        .isInstanceOf(UnavailableException.class)
        .hasMessageContaining("jdbc:mysql://127.0.0.1:" + closedPort + "/extend")
        // the driver's answer and its cause, not a pool time-out
        .hasMessageContaining("Communications link failure")
        .hasMessageContaining("Connection refused")
        .hasMessageContaining("EXTEND_JDBC_URL");
  }

  @Test
  void h2CredentialsInTheUrlAreUsedAndAWrongPasswordIsRefusedWithoutShowingIt() throws Exception {
    String base = "jdbc:h2:file:" + dir.resolve("credentials");
    String secret = "h2-secret-" + System.nanoTime();
    String wrong = "h2-wrong-" + System.nanoTime();
    SecretKeyRing keys = SecretKeyRing.generate("k");
    try (JdbcStorage s = JdbcStorage.builder().jdbcUrl(base + ";USER=admin;PASSWORD=" + secret)
        .secretKeys(keys).build()) {
      assertThat(s.databaseName()).isEqualTo(base);
      s.functionStore().put(webhook("a", "code", Map.of("K", "v")), OptionalLong.empty());
    }
    long start = System.nanoTime();
    assertThatThrownBy(() -> JdbcStorage.builder().jdbcUrl(base + ";USER=admin;PASSWORD=" + wrong)
        .connectionTimeout(Duration.ofSeconds(10)).secretKeys(keys).build())
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("refused the login")
        .hasMessageContaining("Wrong user name or password")
        .hasMessageNotContaining(wrong)
        .hasMessageNotContaining(secret);
    assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(5));
    // Given separately instead of in the URL: the same database.
    try (JdbcStorage s = JdbcStorage.builder().jdbcUrl(base).user("admin").password(secret)
        .secretKeys(keys).build()) {
      assertThat(s.functionStore().version(WebhookRef.of("acme", "a"))).hasValue(1);
    }
  }

  @Test
  void configurationErrorsNameTheSetting() {
    SecretKeyRing keys = SecretKeyRing.generate("k");
    assertThatThrownBy(() -> JdbcStorage.builder().secretKeys(keys).build()).hasMessageContaining("jdbcUrl");
    assertThatThrownBy(() -> JdbcStorage.builder().jdbcUrl("jdbc:postgresql://x/y").secretKeys(keys).build())
        .hasMessageContaining("jdbcUrl");
    assertThatThrownBy(() -> JdbcStorage.builder().jdbcUrl("jdbc:h2:mem:x").build()).hasMessageContaining("secretKeys");
    assertThatThrownBy(() -> JdbcStorage.builder().jdbcUrl("jdbc:h2:mem:x").secretKeys(keys).poolSize(0).build())
        .hasMessageContaining("poolSize");
    assertThatThrownBy(() -> JdbcStorage.builder().jdbcUrl("jdbc:h2:mem:x").secretKeys(keys)
        .connectionTimeout(Duration.ofMillis(10)).build()).hasMessageContaining("connectionTimeout");
    assertThatThrownBy(() -> SecretKeyRing.parse("k1:" + java.util.Base64.getEncoder().encodeToString(new byte[16])))
        .hasMessageContaining("'k1'").hasMessageContaining("32 bytes");
    assertThatThrownBy(() -> SecretKeyRing.parse("no-colon")).hasMessageContaining("id:base64key");
    assertThat(SecretKeyRing.generate("k9").toString()).doesNotContain(SecretKeyRing.generate("k9").toSpec());
  }
}
