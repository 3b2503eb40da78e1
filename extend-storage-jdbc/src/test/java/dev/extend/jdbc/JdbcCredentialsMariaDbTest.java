package dev.extend.jdbc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.extend.Limits;
import dev.extend.WebhookRef;
import dev.extend.spi.WebhookRecord;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Credentials on the shared MariaDB: those in the URL are used when none are given separately,
 * in both URL forms; a refused login or a missing database fails start-up at once with the
 * server's answer, never with the password.
 */
class JdbcCredentialsMariaDbTest {

  private static final SecretKeyRing KEYS = SecretKeyRing.generate("k1");
  private static final Duration PATIENT = Duration.ofSeconds(10);

  @TempDir
  Path dir;

  private String database;
  private SharedMariaDb.User user;

  @BeforeEach
  void createDatabaseAndUser() {
    database = SharedMariaDb.createDatabase();
    user = SharedMariaDb.createUser(database);
  }

  @AfterEach
  void dropThem() {
    SharedMariaDb.dropUser(user);
    SharedMariaDb.dropDatabase(database);
  }

  private String urlWith(String prefix, String userName, String password) {
    return prefix + "//" + SharedMariaDb.HOST + ":" + SharedMariaDb.PORT + "/" + database + "?user=" + userName
        + "&password=" + password;
  }

  private static void roundTrip(JdbcStorage s, String name) {
    WebhookRef ref = WebhookRef.of("acme", name);
    s.functionStore().put(new WebhookRecord(ref, "code", List.of(), Map.of("K", "v"), Map.of(),
        new Limits(Duration.ofSeconds(5), 128), "node22", 0, null, null), OptionalLong.empty());
    assertThat(s.functionStore().get(ref).orElseThrow().secrets()).containsEntry("K", "v");
  }

  @Test
  void credentialsInTheUrlAreUsedInBothUrlForms() {
    for (String prefix : new String[] {"jdbc:mysql:", "jdbc:mariadb:"}) {
      String url = urlWith(prefix, user.name(), user.password());
      try (JdbcStorage s = JdbcStorage.builder().jdbcUrl(url).secretKeys(KEYS).build()) {
        assertThat(s.databaseName()).isEqualTo(prefix + "//127.0.0.1:3306/" + database);
        roundTrip(s, "builder-" + prefix.replace(":", "-"));
      }
    }
    // The root user of the shared server has an empty password: "password=" stays empty.
    try (JdbcStorage s = JdbcStorage.builder().jdbcUrl(urlWith("jdbc:mysql:", "root", "")).secretKeys(KEYS).build()) {
      roundTrip(s, "root");
    }
  }

  @Test
  void theStandaloneSettingsLeaveUrlCredentialsAloneWhenUserAndPasswordAreUnset() throws IOException {
    for (String prefix : new String[] {"jdbc:mysql:", "jdbc:mariadb:"}) {
      Map<String, String> env = Map.of("EXTEND_JDBC_URL", urlWith(prefix, user.name(), user.password()),
          "EXTEND_JDBC_PASSWORD", "", SecretKeyRing.ENV, KEYS.toSpec());
      try (JdbcStorage s = JdbcStorage.fromEnvironment(env, dir)) {
        roundTrip(s, "env-" + prefix.replace(":", "-"));
      }
    }
    // Given separately, they are used with a URL that has none.
    Map<String, String> env = Map.of("EXTEND_JDBC_URL", SharedMariaDb.url(database), "EXTEND_JDBC_USER", user.name(),
        "EXTEND_JDBC_PASSWORD", user.password(), SecretKeyRing.ENV, KEYS.toSpec());
    try (JdbcStorage s = JdbcStorage.fromEnvironment(env, dir)) {
      roundTrip(s, "env-separate");
    }
  }

  @Test
  void aWrongPasswordFailsAtOnceWithTheServersAnswerAndWithoutThePassword() {
    String wrong = "wrong-" + user.password();
    long start = System.nanoTime();
    assertThatThrownBy(() -> JdbcStorage.builder().jdbcUrl(SharedMariaDb.url(database)).user(user.name())
        .password(wrong).connectionTimeout(PATIENT).secretKeys(KEYS).build())
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("refused the login")
        .hasMessageContaining("Access denied for user '" + user.name() + "'@")
        .hasMessageContaining("EXTEND_JDBC_PASSWORD")
        .hasMessageNotContaining(wrong)
        .hasMessageNotContaining(user.password());
    assertThat(Duration.ofNanos(System.nanoTime() - start)).as("no waiting for the connection timeout")
        .isLessThan(PATIENT.dividedBy(2));

    // The same through the URL, in both forms.
    for (String prefix : new String[] {"jdbc:mysql:", "jdbc:mariadb:"}) {
      assertThatThrownBy(() -> JdbcStorage.builder().jdbcUrl(urlWith(prefix, user.name(), wrong))
          .connectionTimeout(PATIENT).secretKeys(KEYS).build())
          .isInstanceOf(IllegalStateException.class)
          .hasMessageContaining("Access denied for user '" + user.name() + "'@")
          .hasMessageNotContaining(wrong)
          .hasMessageNotContaining(user.password());
    }
  }

  @Test
  void aMissingDatabaseIsNamedAsSuch() {
    String missing = database + "_missing";
    assertThatThrownBy(() -> JdbcStorage.builder().jdbcUrl(SharedMariaDb.url(missing)).user("root").password("")
        .connectionTimeout(PATIENT).secretKeys(KEYS).build())
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("does not exist")
        .hasMessageContaining("Unknown database '" + missing + "'")
        .hasMessageContaining("CREATE DATABASE");
  }
}
