package dev.extend.internal.memory;

import dev.extend.spi.ArtifactStore;
import dev.extend.spi.BuildQueue;
import dev.extend.spi.EgressStore;
import dev.extend.spi.FunctionStore;
import dev.extend.spi.ModuleStore;
import dev.extend.spi.Storage;
import dev.extend.spi.TokenStore;

/** Every store in memory (open for tests that watch a storage being closed). */
public class InMemoryStorage implements Storage {
  private final FunctionStore functions = FunctionStore.inMemory();
  private final ArtifactStore artifacts = ArtifactStore.inMemory();
  private final ModuleStore modules = ModuleStore.inMemory();
  private final BuildQueue queue = BuildQueue.inMemory();
  private final TokenStore tokens = TokenStore.inMemory();
  private final EgressStore egress = EgressStore.inMemory();

  @Override
  public FunctionStore functionStore() {
    return functions;
  }

  @Override
  public ArtifactStore artifactStore() {
    return artifacts;
  }

  @Override
  public ModuleStore moduleStore() {
    return modules;
  }

  @Override
  public BuildQueue buildQueue() {
    return queue;
  }

  @Override
  public TokenStore tokenStore() {
    return tokens;
  }

  @Override
  public EgressStore egressStore() {
    return egress;
  }

  @Override
  public void close() {
    // nothing shared; the platform closes each store
  }

  @Override
  public String toString() {
    return "in memory";
  }
}
