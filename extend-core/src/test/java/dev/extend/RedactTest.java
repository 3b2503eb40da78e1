package dev.extend;

import static org.assertj.core.api.Assertions.assertThat;

import dev.extend.spi.ModuleRecord;
import dev.extend.spi.Redact;
import java.time.Instant;
import org.junit.jupiter.api.Test;

/** Registry credentials never survive into a build log or a logged setting. */
class RedactTest {

  @Test
  void userInfoOfUrlsIsMasked() {
    assertThat(Redact.credentials("$ npm install --registry https://ci:s3cr3t@npm.internal/ lodash@4.17.21"))
        .isEqualTo("$ npm install --registry https://****@npm.internal/ lodash@4.17.21");
    assertThat(Redact.credentials("GET http://user:p%40ss@registry:8080/x 404"))
        .isEqualTo("GET http://****@registry:8080/x 404");
    assertThat(Redact.credentials("jdbc:mysql://extend:pw@db.internal:3306/extend"))
        .isEqualTo("jdbc:mysql://****@db.internal:3306/extend");
    assertThat(Redact.credentials("https://token@npm.pkg.github.com")).isEqualTo("https://****@npm.pkg.github.com");
  }

  @Test
  void npmCredentialSettingsAreMasked() {
    assertThat(Redact.credentials("//npm.internal/:_authToken=npm_abcDEF123 and more"))
        .isEqualTo("//npm.internal/:_authToken=**** and more");
    assertThat(Redact.credentials("//npm.internal/:_auth=dXNlcjpwYXNz")).isEqualTo("//npm.internal/:_auth=****");
    assertThat(Redact.credentials("//r/:_password=\"cGFzcw==\"")).isEqualTo("//r/:_password=\"****\"");
    assertThat(Redact.credentials("jdbc:mariadb://db/extend?user=x&password=hunter2&ssl=true"))
        .isEqualTo("jdbc:mariadb://db/extend?user=x&password=****&ssl=true");
    assertThat(Redact.credentials("NPM_CONFIG__AUTHTOKEN=xyz")).isEqualTo("NPM_CONFIG__AUTHTOKEN=****");
  }

  @Test
  void textWithoutCredentialsIsLeftAlone() {
    for (String s : new String[] {"added 12 packages in 2s", "lodash@4.17.21", "ext-top@1.0.0 requires ext-mid@^1",
        "a=b c=d", "see https://docs.npmjs.com/cli", "mail me@example.com", "", "@scope/pkg@1.0.0"}) {
      assertThat(Redact.credentials(s)).isSameAs(s);
    }
    assertThat(Redact.credentials(null)).isNull();
  }

  @Test
  void moduleStatesAndRecordsNeverCarryThem() {
    String log = "$ npm install --registry https://ci:s3cr3t@npm.internal/ x@1.0.0\n"
        + "npm ERR! //npm.internal/:_authToken=npm_secret is invalid\n";
    ModuleRef ref = new ModuleRef("x", "1.0.0");
    assertThat(new ModuleStatus(ref, ModuleState.FAILED, log).log()).doesNotContain("s3cr3t").doesNotContain("npm_secret");
    assertThat(new ModuleRecord(ref, ModuleState.FAILED, log, null, Instant.now()).log())
        .doesNotContain("s3cr3t").doesNotContain("npm_secret").contains("https://****@npm.internal/");
  }
}
