package dev.extend.testing;

import dev.extend.spi.BuildQueue;

/** The in-memory BuildQueue against its contract. */
class InMemoryBuildQueueTest extends BuildQueueContract {
  @Override
  protected BuildQueue createQueue() {
    return BuildQueue.inMemory();
  }
}
