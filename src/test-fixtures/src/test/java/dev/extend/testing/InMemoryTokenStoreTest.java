package dev.extend.testing;

import dev.extend.spi.TokenStore;

/** The in-memory TokenStore against its contract. */
class InMemoryTokenStoreTest extends TokenStoreContract {
  @Override
  protected TokenStore createStore() {
    return TokenStore.inMemory();
  }
}
