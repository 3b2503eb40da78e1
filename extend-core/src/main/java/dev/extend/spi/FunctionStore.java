package dev.extend.spi;

import dev.extend.ContainerName;
import dev.extend.Page;
import dev.extend.WebhookRef;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * Durable storage of webhooks.
 *
 * <p>Duties of an implementation:
 * <ol>
 *   <li>{@link #put} is atomic: a reader sees the old record or the new one, never a mix; a
 *       failed put stores nothing.
 *   <li>Versions: a new webhook gets version 1; every put of an existing one stores version
 *       {@code old + 1}. With an {@code expectedVersion}, the put (or delete) succeeds only if
 *       the stored version equals it, else it throws {@link dev.extend.VersionMismatchException};
 *       an expected version on a missing webhook throws {@link dev.extend.NotFoundException}.
 *       Two concurrent puts never both succeed against the same base version.
 *   <li>{@code createdAt} is kept across updates; {@code updatedAt} is set by the store.
 *   <li>{@link #list} returns a container's webhooks ordered by name; the cursor is opaque and
 *       stable across inserts and deletes of other webhooks.
 *   <li>Durability: a store that persists at all persists before it returns: a {@link #put} or
 *       delete that returned survives a crash (kill -9) of the process right after it.
 *   <li>Secrets are returned exactly as written. A store that persists them encrypts them at rest.
 *   <li>When the backing storage is unreachable, methods throw
 *       {@link dev.extend.UnavailableException} promptly (bounded by a connection timeout)
 *       and recover by themselves once it is back.
 *   <li>Thread-safe.
 * </ol>
 */
public interface FunctionStore extends AutoCloseable {

  /** The webhook, or empty. */
  Optional<WebhookRecord> get(WebhookRef ref);

  /**
   * The stored version of a webhook, or empty when it does not exist. Cheaper than {@link
   * #get}: it is how nodes re-validate cached webhooks.
   */
  OptionalLong version(WebhookRef ref);

  /**
   * Creates or updates a webhook. The record's version and timestamps are ignored; the stored
   * record, with its new version and timestamps, is returned.
   *
   * @param record the webhook to store
   * @param expectedVersion when present, the version the caller read
   */
  WebhookRecord put(WebhookRecord record, OptionalLong expectedVersion);

  /**
   * Deletes a webhook.
   *
   * @return true when it existed
   */
  boolean delete(WebhookRef ref, OptionalLong expectedVersion);

  /**
   * One page of a container's webhooks ordered by name.
   *
   * @param limit at most this many items (1..1000)
   * @param cursor null for the first page, else a previous page's {@code nextCursor}
   */
  Page<WebhookRecord> list(ContainerName container, int limit, String cursor);

  /**
   * How many webhooks {@code container} has, or any number of at least {@code atMost} when it
   * has that many (a store may stop counting there). Default: pages of {@link #list}; a store
   * that reads whole records to list them should count without reading them.
   */
  default int count(ContainerName container, int atMost) {
    int n = 0;
    String cursor = null;
    do {
      Page<WebhookRecord> page = list(container, 1000, cursor);
      n += page.items().size();
      cursor = page.nextCursor();
    } while (cursor != null && n < atMost);
    return n;
  }

  /** Releases resources. */
  @Override
  default void close() {}

  /** A store that keeps everything in memory: for tests and development. */
  static FunctionStore inMemory() {
    return new dev.extend.internal.memory.InMemoryFunctionStore();
  }
}
