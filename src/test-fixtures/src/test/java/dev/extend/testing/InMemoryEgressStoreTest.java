package dev.extend.testing;

import dev.extend.spi.EgressStore;

/** The in-memory EgressStore against its contract. */
class InMemoryEgressStoreTest extends EgressStoreContract {
  @Override
  protected EgressStore createStore() {
    return EgressStore.inMemory();
  }
}
