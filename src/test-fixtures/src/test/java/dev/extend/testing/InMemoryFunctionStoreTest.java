package dev.extend.testing;

import dev.extend.spi.FunctionStore;

/** The in-memory FunctionStore against its contract. */
class InMemoryFunctionStoreTest extends FunctionStoreContract {
  @Override
  protected FunctionStore createStore() {
    return FunctionStore.inMemory();
  }
}
