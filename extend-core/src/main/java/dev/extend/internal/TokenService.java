package dev.extend.internal;

import dev.extend.ContainerName;
import dev.extend.IssuedToken;
import dev.extend.ValidationException;
import dev.extend.spi.TokenRecord;
import dev.extend.spi.TokenStore;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.time.Instant;
import java.util.Base64;
import java.util.HexFormat;
import java.util.Optional;
import java.util.Set;

/** API tokens: random secrets, stored as sha256 hashes, compared in constant time. */
public final class TokenService {
  private static final SecureRandom RANDOM = new SecureRandom();
  private final TokenStore store;

  /** A service over the given store. */
  public TokenService(TokenStore store) {
    this.store = store;
  }

  /** Creates a token for the containers (empty: admin). */
  public IssuedToken create(Set<ContainerName> containers, String description) {
    if (description != null && description.length() > 512) {
      throw new ValidationException("description", "must be at most 512 characters");
    }
    byte[] idBytes = new byte[8];
    byte[] secret = new byte[32];
    RANDOM.nextBytes(idBytes);
    RANDOM.nextBytes(secret);
    String id = "tok_" + HexFormat.of().formatHex(idBytes);
    String token = "ext_" + Base64.getUrlEncoder().withoutPadding().encodeToString(secret);
    store.create(new TokenRecord(id, hash(token), containers, description == null ? "" : description, Instant.now()));
    return new IssuedToken(id, token);
  }

  /** Revokes a token. */
  public boolean revoke(String id) {
    return store.revoke(id);
  }

  /**
   * Revokes every live token that grants {@code container} (also those that grant other
   * containers besides: kept, they would grant whoever reuses the name). Admin tokens stay.
   *
   * @return the ids revoked
   */
  public java.util.List<String> revokeGranting(ContainerName container) {
    java.util.List<String> revoked = new java.util.ArrayList<>();
    for (TokenRecord t : store.list()) {
      if (t.containers().contains(container) && store.revoke(t.id())) {
        revoked.add(t.id());
      }
    }
    return revoked;
  }

  /** The live token of a bearer secret. */
  public Optional<TokenRecord> authenticate(String bearer) {
    if (bearer == null || bearer.isEmpty() || bearer.length() > 256) {
      return Optional.empty();
    }
    String h = hash(bearer);
    return store.findByHash(h).filter(t -> MessageDigest.isEqual(
        t.hash().getBytes(StandardCharsets.US_ASCII), h.getBytes(StandardCharsets.US_ASCII)));
  }

  /** Lower-case hex sha256 of a token. */
  public static String hash(String token) {
    try {
      return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(token.getBytes(StandardCharsets.UTF_8)));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
