package dev.extend.spi;

import dev.extend.Limits;
import dev.extend.ModuleRef;
import dev.extend.WebhookRef;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * A webhook as a {@link FunctionStore} keeps it, secrets in plain text (a store encrypts them
 * at rest if it persists them).
 *
 * @param ref container and name
 * @param code JavaScript source
 * @param dependencies npm modules, sorted
 * @param secrets secret values by name
 * @param meta metadata
 * @param limits the limits in effect, complete: a limit the writer left out was resolved to the
 *     platform's default when the webhook was written
 * @param runtime the runtime it runs on ({@code node22}); null only for webhooks stored before
 *     runtimes were named, which run on the platform's default
 * @param version version, 1 for a new webhook, bumped by each update
 * @param createdAt creation time
 * @param updatedAt time of the last update
 */
public record WebhookRecord(
    WebhookRef ref,
    String code,
    List<ModuleRef> dependencies,
    Map<String, String> secrets,
    Map<String, String> meta,
    Limits limits,
    String runtime,
    long version,
    Instant createdAt,
    Instant updatedAt) {

  /** Copies collections and checks presence. */
  public WebhookRecord {
    Objects.requireNonNull(ref, "ref");
    Objects.requireNonNull(code, "code");
    Objects.requireNonNull(limits, "limits");
    if (!limits.isComplete()) {
      throw new IllegalArgumentException("a stored webhook's limits must be complete, were " + limits);
    }
    dependencies = List.copyOf(dependencies);
    secrets = Map.copyOf(secrets);
    meta = Map.copyOf(meta);
  }

  /** The same record with another version and timestamps. */
  public WebhookRecord withVersion(long version, Instant createdAt, Instant updatedAt) {
    return new WebhookRecord(ref, code, dependencies, secrets, meta, limits, runtime, version, createdAt, updatedAt);
  }

  /** Names the secrets, never their values; leaves out the code. */
  @Override
  public String toString() {
    return "WebhookRecord[ref=" + ref + ", version=" + version + ", dependencies=" + dependencies
        + ", secrets=" + new java.util.TreeSet<>(secrets.keySet()) + ", meta=" + meta + ", limits=" + limits + ", runtime=" + runtime
        + ", code=" + code.length() + " chars]";
  }
}
