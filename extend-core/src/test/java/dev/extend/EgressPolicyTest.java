package dev.extend;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import org.junit.jupiter.api.Test;

/** The wire form of egress policies: what is written is read back as the same policy. */
class EgressPolicyTest {

  @Test
  void everyEntryReadsBackFromItsWireForm() {
    List<String> entries = List.of("api.slack.com:443", "*.example.com", "203.0.113.0/24", "198.51.100.7:5432",
        "[2001:db8::/32]:443", "[2001:db8::1]", "[fd00::/8]");
    EgressPolicy p = EgressPolicy.of("allowlist", entries);
    EgressPolicy again = EgressPolicy.of(p.mode().wireName(), p.allowStrings());
    assertThat(again).isEqualTo(p);
    assertThat(again.allowStrings()).isEqualTo(p.allowStrings());
    assertThat(p.allowStrings()).contains("api.slack.com:443", "203.0.113.0/24", "198.51.100.7:5432",
        "[2001:db8:0:0:0:0:0:0/32]:443", "[2001:db8:0:0:0:0:0:1]");
  }

  @Test
  void errorsNameTheEntry() {
    assertThatThrownBy(() -> EgressPolicy.of("allowlist", List.of("ok.example.com", "no good")))
        .isInstanceOf(ValidationException.class).hasMessageStartingWith("allow[1]");
    assertThatThrownBy(() -> EgressPolicy.of("open", List.of()))
        .isInstanceOf(ValidationException.class).hasMessageStartingWith("mode");
  }
}
