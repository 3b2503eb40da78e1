package dev.extend;

import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A stored webhook as reads return it. Secrets appear by name only.
 *
 * @param ref container and name
 * @param code its JavaScript source
 * @param dependencies its npm modules, sorted
 * @param secretNames the names of its secrets (values are write-only)
 * @param meta its metadata
 * @param limits its limits in effect, always complete; one left out when it was written holds
 *     the platform's default of that time
 * @param runtime the runtime it runs on ({@code node22}); null only for webhooks stored before
 *     runtimes were named, which run on the platform's default
 * @param version its version, bumped by every update (starts at 1)
 * @param createdAt when it was created
 * @param updatedAt when it was last updated
 */
public record Webhook(
    WebhookRef ref,
    String code,
    List<ModuleRef> dependencies,
    Set<String> secretNames,
    Map<String, String> meta,
    Limits limits,
    String runtime,
    long version,
    Instant createdAt,
    Instant updatedAt) {

  /** Copies collections. */
  public Webhook {
    dependencies = List.copyOf(dependencies);
    secretNames = Set.copyOf(secretNames);
    meta = Map.copyOf(meta);
  }
}
