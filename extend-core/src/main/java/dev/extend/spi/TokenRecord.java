package dev.extend.spi;

import dev.extend.ContainerName;
import java.time.Instant;
import java.util.Set;

/**
 * An API token as stored: only the sha256 of the secret is kept.
 *
 * @param id public id (used to revoke)
 * @param hash lower-case hex sha256 of the token's secret
 * @param containers the containers it grants; empty means an admin token
 * @param description free text
 * @param createdAt creation time
 */
public record TokenRecord(String id, String hash, Set<ContainerName> containers, String description, Instant createdAt) {
  /** Copies the set. */
  public TokenRecord {
    containers = Set.copyOf(containers);
  }

  /** Whether this token grants every container and admin routes. */
  public boolean admin() {
    return containers.isEmpty();
  }
}
