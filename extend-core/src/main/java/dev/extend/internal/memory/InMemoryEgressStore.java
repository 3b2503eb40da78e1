package dev.extend.internal.memory;

import dev.extend.ContainerName;
import dev.extend.EgressPolicy;
import dev.extend.spi.EgressStore;
import dev.extend.spi.StoredEgressPolicy;
import java.time.Instant;
import java.util.Collection;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;

/** An {@link EgressStore} in memory. */
public final class InMemoryEgressStore implements EgressStore {
  private final Map<ContainerName, StoredEgressPolicy> policies = new ConcurrentHashMap<>();

  @Override
  public Optional<StoredEgressPolicy> get(ContainerName container) {
    return Optional.ofNullable(policies.get(container));
  }

  @Override
  public StoredEgressPolicy put(ContainerName container, EgressPolicy policy) {
    StoredEgressPolicy stored = new StoredEgressPolicy(container, policy, revision(), Instant.now());
    policies.put(container, stored);
    return stored;
  }

  @Override
  public boolean delete(ContainerName container) {
    return policies.remove(container) != null;
  }

  @Override
  public Map<ContainerName, Long> revisions(Collection<ContainerName> containers) {
    Map<ContainerName, Long> out = new HashMap<>();
    for (ContainerName c : containers) {
      StoredEgressPolicy p = policies.get(c);
      if (p != null) {
        out.put(c, p.revision());
      }
    }
    return out;
  }

  /** A random non-zero revision. */
  public static long revision() {
    long r;
    do {
      r = ThreadLocalRandom.current().nextLong();
    } while (r == 0);
    return r;
  }
}
