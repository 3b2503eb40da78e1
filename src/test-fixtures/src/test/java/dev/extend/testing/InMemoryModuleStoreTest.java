package dev.extend.testing;

import dev.extend.spi.ModuleStore;

/** The in-memory ModuleStore against its contract. */
class InMemoryModuleStoreTest extends ModuleStoreContract {
  @Override
  protected ModuleStore createStore() {
    return ModuleStore.inMemory();
  }
}
