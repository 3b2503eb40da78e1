package dev.extend.spi;

import dev.extend.ContainerName;
import dev.extend.EgressPolicy;
import java.time.Instant;
import java.util.Objects;

/**
 * A container's egress policy as stored.
 *
 * @param container the container
 * @param policy its policy as the admin set it (the platform's own entries not included)
 * @param revision a random non-zero number the store drew for this write: a node that saw another
 *     revision re-reads the policy
 * @param updatedAt when it was written
 */
public record StoredEgressPolicy(ContainerName container, EgressPolicy policy, long revision, Instant updatedAt) {
  /** Checks fields. */
  public StoredEgressPolicy {
    Objects.requireNonNull(container, "container");
    Objects.requireNonNull(policy, "policy");
    Objects.requireNonNull(updatedAt, "updatedAt");
    if (revision == 0) {
      throw new IllegalArgumentException("revision 0 means no stored policy");
    }
  }
}
