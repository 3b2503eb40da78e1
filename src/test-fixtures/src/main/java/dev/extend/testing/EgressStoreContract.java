package dev.extend.testing;

import static org.assertj.core.api.Assertions.assertThat;

import dev.extend.ContainerName;
import dev.extend.EgressPolicy;
import dev.extend.spi.EgressStore;
import dev.extend.spi.StoredEgressPolicy;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * The duties of {@link EgressStore}, checked against an implementation. Subclasses return a
 * fresh, empty store from {@link #createStore()}.
 */
public abstract class EgressStoreContract extends StoreContract<EgressStore> {

  private static final ContainerName ACME = ContainerName.of("acme");
  private static final ContainerName GLOBEX = ContainerName.of("globex");

  private static EgressPolicy policy(String mode, String... allow) {
    return EgressPolicy.of(mode, List.of(allow));
  }

  @Test
  void anEmptyStoreHasNoPolicies() {
    assertThat(store.get(ACME)).isEmpty();
    assertThat(store.revisions(List.of(ACME, GLOBEX))).isEmpty();
    assertThat(store.revisions(List.of())).isEmpty();
    assertThat(store.delete(ACME)).isFalse();
  }

  @Test
  void aStoredPolicyIsReturnedExactlyAsWritten() {
    EgressPolicy p = policy("allowlist", "api.slack.com:443", "203.0.113.0/24", "*.example.com",
        "[2001:db8::/32]:443", "198.51.100.7:5432", "[2001:db8::1]");
    Instant before = Instant.now().minusSeconds(1);
    StoredEgressPolicy stored = store.put(ACME, p);

    assertThat(stored.container()).isEqualTo(ACME);
    assertThat(stored.policy()).isEqualTo(p);
    assertThat(stored.revision()).isNotZero();
    assertThat(stored.updatedAt()).isBetween(before, Instant.now().plusSeconds(1));
    StoredEgressPolicy read = store.get(ACME).orElseThrow();
    assertThat(read.policy()).isEqualTo(p);
    assertThat(read.policy().allowStrings()).containsExactlyElementsOf(p.allowStrings());
    assertThat(read.revision()).isEqualTo(stored.revision());
    assertThat(Duration.between(read.updatedAt(), stored.updatedAt()).abs()).isLessThan(Duration.ofMillis(1));
    assertThat(store.get(GLOBEX)).as("another container").isEmpty();
  }

  @Test
  void everyModeAndTheLargestPolicyRoundTrip() {
    store.put(ACME, EgressPolicy.NONE);
    assertThat(store.get(ACME).orElseThrow().policy()).isEqualTo(EgressPolicy.NONE);
    store.put(ACME, EgressPolicy.PUBLIC);
    assertThat(store.get(ACME).orElseThrow().policy()).isEqualTo(EgressPolicy.PUBLIC);

    List<String> many = new ArrayList<>();
    for (int i = 0; i < EgressPolicy.MAX_ENTRIES; i++) {
      many.add("host-" + i + ".a-rather-long-subdomain-name-for-testing.example.com:" + (1 + i));
    }
    EgressPolicy large = EgressPolicy.of("allowlist", many);
    store.put(GLOBEX, large);
    assertThat(store.get(GLOBEX).orElseThrow().policy()).isEqualTo(large);
  }

  @Test
  void aPutReplacesThePolicyUnderANewRevision() {
    StoredEgressPolicy first = store.put(ACME, policy("public", "10.0.0.5:5432"));
    StoredEgressPolicy second = store.put(ACME, policy("none"));

    assertThat(second.revision()).isNotEqualTo(first.revision()).isNotZero();
    assertThat(store.get(ACME).orElseThrow().policy()).isEqualTo(EgressPolicy.NONE);
    assertThat(store.revisions(List.of(ACME))).isEqualTo(Map.of(ACME, second.revision()));
  }

  @Test
  void revisionsListOnlyContainersWithAPolicy() {
    StoredEgressPolicy a = store.put(ACME, policy("none"));
    StoredEgressPolicy g = store.put(GLOBEX, policy("allowlist", "api.slack.com:443"));
    ContainerName other = ContainerName.of("initech");

    assertThat(store.revisions(List.of(ACME, GLOBEX, other)))
        .isEqualTo(Map.of(ACME, a.revision(), GLOBEX, g.revision()));
    assertThat(store.revisions(List.of(GLOBEX))).isEqualTo(Map.of(GLOBEX, g.revision()));
    assertThat(store.revisions(Set.of(other))).isEmpty();
  }

  @Test
  void revisionsAnswerForManyContainersAtOnce() {
    List<ContainerName> all = new ArrayList<>();
    for (int i = 0; i < 1500; i++) {
      all.add(ContainerName.of("c" + i));
    }
    StoredEgressPolicy first = store.put(all.get(0), policy("none"));
    StoredEgressPolicy last = store.put(all.get(1499), policy("none"));
    StoredEgressPolicy middle = store.put(all.get(777), policy("none"));

    assertThat(store.revisions(all)).isEqualTo(Map.of(all.get(0), first.revision(), all.get(777),
        middle.revision(), all.get(1499), last.revision()));
  }

  @Test
  void deleteReturnsTheContainerToNoPolicy() {
    store.put(ACME, policy("none"));
    store.put(GLOBEX, policy("none"));

    assertThat(store.delete(ACME)).isTrue();
    assertThat(store.get(ACME)).isEmpty();
    assertThat(store.revisions(List.of(ACME, GLOBEX))).containsOnlyKeys(GLOBEX);
    assertThat(store.delete(ACME)).as("already gone").isFalse();
    assertThat(store.get(GLOBEX)).isPresent();
  }

  @Test
  void deleteThenPutNeverRepeatsARevision() {
    Set<Long> seen = new HashSet<>();
    for (int i = 0; i < 50; i++) {
      long r = store.put(ACME, policy(i % 2 == 0 ? "none" : "public")).revision();
      assertThat(seen.add(r)).as("revision %d drawn twice", r).isTrue();
      store.delete(ACME);
    }
  }

  @Test
  void concurrentPutsLeaveOneWholeWrite() throws InterruptedException {
    List<Race.Outcome<StoredEgressPolicy>> outcomes = Race.run(8, i -> () -> {
      List<String> entries = new ArrayList<>();
      for (int k = 0; k < 20; k++) {
        entries.add("w" + i + "-" + k + ".example.com:443");
      }
      return store.put(ACME, EgressPolicy.of(i % 2 == 0 ? "allowlist" : "public", entries));
    });
    assertThat(outcomes).allMatch(Race.Outcome::ok);
    StoredEgressPolicy now = store.get(ACME).orElseThrow();
    StoredEgressPolicy winner = outcomes.stream().map(Race.Outcome::value)
        .filter(s -> s.revision() == now.revision()).findFirst().orElseThrow();
    assertThat(now.policy()).as("the mode and entries of one write").isEqualTo(winner.policy());
    assertThat(store.revisions(List.of(ACME))).isEqualTo(Map.of(ACME, now.revision()));
  }
}
