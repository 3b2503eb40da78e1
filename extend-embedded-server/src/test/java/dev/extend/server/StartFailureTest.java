package dev.extend.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchException;

import dev.extend.Limits;
import dev.extend.WebhookRef;
import dev.extend.jdbc.JdbcStorage;
import dev.extend.jdbc.SecretKeyRing;
import dev.extend.spi.WebhookRecord;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.sql.DriverManager;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** What the standalone server tells the operator when its database cannot be used at start-up. */
class StartFailureTest {
  private static final Logger LOG = LoggerFactory.getLogger(StartFailureTest.class);

  @TempDir
  Path dir;

  /** The line printed on standard error, and the exit status. */
  private record Report(int status, String line) {}

  private Report start(Map<String, String> env) throws Exception {
    StandaloneConfig config = StandaloneConfig.load(List.of(), env);
    Exception e = catchException(() -> Main.start(config, new PrintStream(new ByteArrayOutputStream()), LOG));
    assertThat(e).as("start-up fails").isNotNull();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    int status = Main.reportStartFailure(e, new PrintStream(err, true, StandardCharsets.UTF_8), LOG);
    return new Report(status, err.toString(StandardCharsets.UTF_8).strip());
  }

  @Test
  void aRefusedLoginNamesTheDatabasesAnswerAndTheSettingsButNotThePassword() throws Exception {
    String url = "jdbc:h2:file:" + dir.resolve("db").resolve("extend");
    try (var c = DriverManager.getConnection(url + ";USER=admin;PASSWORD=right-password-1")) {
      // creates the database with that user
    }
    Report r = start(Map.of("EXTEND_DATA_DIR", dir.resolve("data").toString(), "EXTEND_RUNTIME", "local",
        "EXTEND_JDBC_URL", url, "EXTEND_JDBC_USER", "admin", "EXTEND_JDBC_PASSWORD", "wrong-password-2"));
    assertThat(r.status()).isEqualTo(2);
    assertThat(r.line())
        .startsWith("extend: configuration error: database " + url + " refused the login: Wrong user name or password")
        .contains("EXTEND_JDBC_USER").contains("EXTEND_JDBC_PASSWORD")
        .doesNotContain("wrong-password-2").doesNotContain("right-password-1")
        .doesNotContain("\n");
  }

  /** Two nodes on one database, each with the key file it made at its first start. */
  @Test
  void secretKeysThatDoNotFitTheDatabaseNameItsKeyIdsAndTheSettings() throws Exception {
    String url = "jdbc:h2:file:" + dir.resolve("shared").resolve("extend");
    try (JdbcStorage first = JdbcStorage.builder().jdbcUrl(url).user("sa").password("")
        .secretKeys(SecretKeyRing.loadOrCreate(dir.resolve("node-1").resolve("secret.keys"))).build()) {
      first.functionStore().put(new WebhookRecord(WebhookRef.of("acme", "hook"), "module.exports = () => 1",
          List.of(), Map.of("TOKEN", "t"), Map.of(), new Limits(Duration.ofSeconds(5), 128), "node22", 0, null,
          null), OptionalLong.empty());
    }
    Path second = dir.resolve("node-2");
    Report r = start(Map.of("EXTEND_DATA_DIR", second.toString(), "EXTEND_RUNTIME", "local",
        "EXTEND_JDBC_URL", url, "EXTEND_JDBC_USER", "sa"));
    assertThat(r.status()).isEqualTo(1);
    assertThat(r.line())
        .startsWith("extend: could not start: the secret keys [k1] of this node (from the key file "
            + second.resolve("secret.keys").toAbsolutePath())
        .contains("differ").contains("the database uses key(s) [k1]")
        .contains("EXTEND_SECRET_KEYS").contains("EXTEND_SECRET_KEYS_FILE")
        .doesNotContain("\n");

    // With the first node's key file, it gets past the storage.
    StandaloneConfig fits = StandaloneConfig.load(List.of(), Map.of("EXTEND_DATA_DIR", second.toString(),
        "EXTEND_RUNTIME", "local", "EXTEND_JDBC_URL", url, "EXTEND_JDBC_USER", "sa",
        "EXTEND_SECRET_KEYS_FILE", dir.resolve("node-1").resolve("secret.keys").toString()));
    try (JdbcStorage s = JdbcStorage.fromEnvironment(fits.asEnvironment(), fits.dataDir())) {
      assertThat(s.functionStore().get(WebhookRef.of("acme", "hook")).orElseThrow().secrets())
          .containsEntry("TOKEN", "t");
    }
  }

  @Test
  void anUnreachableDatabaseNamesTheCauseInOneLine() throws Exception {
    int port;
    try (ServerSocket s = new ServerSocket(0)) {
      port = s.getLocalPort(); // closed again: nothing listens there
    }
    String url = "jdbc:mysql://127.0.0.1:" + port + "/extend";
    Report r = start(Map.of("EXTEND_DATA_DIR", dir.resolve("data").toString(), "EXTEND_RUNTIME", "local",
        "EXTEND_JDBC_URL", url + "?user=extend&password=url-password-3"));
    assertThat(r.status()).isEqualTo(1);
    assertThat(r.line())
        .startsWith("extend: could not start: database " + url + " is unavailable at start-up")
        .contains("Communications link failure (Connection refused)")
        .contains("EXTEND_JDBC_URL")
        .doesNotContain("url-password-3")
        .doesNotContain("\n");
  }
}
