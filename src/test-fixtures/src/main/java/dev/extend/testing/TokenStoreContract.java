package dev.extend.testing;

import static org.assertj.core.api.Assertions.assertThat;

import dev.extend.ContainerName;
import dev.extend.spi.TokenRecord;
import dev.extend.spi.TokenStore;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.HexFormat;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * The duties of {@link TokenStore}, checked against an implementation. Subclasses return a
 * fresh, empty store from {@link #createStore()}. Creation times are whole milliseconds, a
 * precision every store keeps.
 */
public abstract class TokenStoreContract extends StoreContract<TokenStore> {


  /** The lower-case hex sha256 of a token secret. */
  public static String sha256(String secret) {
    try {
      return HexFormat.of().formatHex(
          MessageDigest.getInstance("SHA-256").digest(secret.getBytes(StandardCharsets.UTF_8)));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  private static final Instant T0 = Instant.parse("2026-01-02T03:04:05.678Z");

  private static TokenRecord token(String id, Instant createdAt, String... containers) {
    Set<ContainerName> set = new java.util.HashSet<>();
    for (String c : containers) {
      set.add(ContainerName.of(c));
    }
    return new TokenRecord(id, sha256("secret-of-" + id), set, "token " + id, createdAt);
  }

  @Test
  void createdTokenIsFoundByItsHash() {
    TokenRecord t = token("t1", T0, "acme", "globex");
    store.create(t);

    assertThat(store.findByHash(t.hash())).contains(t);
    assertThat(store.findByHash(sha256("something else"))).isEmpty();
    assertThat(store.list()).containsExactly(t);
  }

  @Test
  void adminTokenRoundTrips() {
    TokenRecord admin = token("admin", T0);
    store.create(admin);
    TokenRecord found = store.findByHash(admin.hash()).orElseThrow();
    assertThat(found.admin()).isTrue();
    assertThat(found).isEqualTo(admin);
  }

  @Test
  void revokedTokensAreNotFoundAndNotListed() {
    TokenRecord a = token("a", T0, "acme");
    TokenRecord b = token("b", T0.plusSeconds(1), "acme");
    store.create(a);
    store.create(b);

    assertThat(store.revoke("a")).isTrue();
    assertThat(store.findByHash(a.hash())).isEmpty();
    assertThat(store.list()).containsExactly(b);
    assertThat(store.revoke("a")).as("already revoked").isFalse();
    assertThat(store.revoke("nope")).isFalse();
    assertThat(store.findByHash(b.hash())).contains(b);
  }

  @Test
  void listIsOldestFirst() {
    TokenRecord late = token("late", T0.plus(2, ChronoUnit.HOURS), "acme");
    TokenRecord early = token("early", T0, "acme");
    TokenRecord middle = token("middle", T0.plus(1, ChronoUnit.HOURS));
    store.create(late);
    store.create(early);
    store.create(middle);
    assertThat(store.list()).containsExactly(early, middle, late);
  }

  @Test
  void concurrentCreatesAreAllKept() throws InterruptedException {
    List<Race.Outcome<Void>> outcomes = Race.run(8, i -> () -> {
      for (int k = 0; k < 10; k++) {
        store.create(token("t" + i + "-" + k, T0.plusMillis(i * 10 + k), "c" + i));
      }
      return null;
    });
    assertThat(outcomes).allMatch(Race.Outcome::ok);
    assertThat(store.list()).hasSize(80);
    assertThat(store.findByHash(sha256("secret-of-t3-4")).orElseThrow().containers())
        .containsExactly(ContainerName.of("c3"));
  }
}
