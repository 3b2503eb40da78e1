package dev.extend.internal.memory;

import dev.extend.spi.TokenRecord;
import dev.extend.spi.TokenStore;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/** A {@link TokenStore} in memory. */
public final class InMemoryTokenStore implements TokenStore {
  private final Map<String, TokenRecord> byId = new ConcurrentHashMap<>();
  private final Map<String, TokenRecord> byHash = new ConcurrentHashMap<>();

  @Override
  public synchronized void create(TokenRecord token) {
    byId.put(token.id(), token);
    byHash.put(token.hash(), token);
  }

  @Override
  public Optional<TokenRecord> findByHash(String hash) {
    return Optional.ofNullable(byHash.get(hash));
  }

  @Override
  public synchronized boolean revoke(String id) {
    TokenRecord t = byId.remove(id);
    if (t == null) {
      return false;
    }
    byHash.remove(t.hash());
    return true;
  }

  @Override
  public List<TokenRecord> list() {
    List<TokenRecord> all = new ArrayList<>(byId.values());
    all.sort(Comparator.comparing(TokenRecord::createdAt).thenComparing(TokenRecord::id));
    return all;
  }
}
