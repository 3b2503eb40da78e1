package dev.extend.testing;

import dev.extend.spi.ArtifactStore;

/** The in-memory ArtifactStore against its contract. */
class InMemoryArtifactStoreTest extends ArtifactStoreContract {
  @Override
  protected ArtifactStore createStore() {
    return ArtifactStore.inMemory();
  }
}
