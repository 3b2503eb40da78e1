package dev.extend.spi;

import java.util.List;
import java.util.Optional;

/**
 * Durable storage of API tokens (hashes only).
 *
 * <p>Duties: {@link #findByHash} finds only tokens not revoked; {@link #revoke} is immediate
 * for every node's next lookup; outages surface as {@link dev.extend.UnavailableException};
 * thread-safe.
 */
public interface TokenStore extends AutoCloseable {

  /** Stores a new token. */
  void create(TokenRecord token);

  /** The live token with this hash, or empty. */
  Optional<TokenRecord> findByHash(String hash);

  /** Revokes a token; true when it existed and was live. */
  boolean revoke(String id);

  /** All live tokens, oldest first. */
  List<TokenRecord> list();

  /** Releases resources. */
  @Override
  default void close() {}

  /** A store that keeps tokens in memory. */
  static TokenStore inMemory() {
    return new dev.extend.internal.memory.InMemoryTokenStore();
  }
}
