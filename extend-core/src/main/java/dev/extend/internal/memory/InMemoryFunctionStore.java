package dev.extend.internal.memory;

import dev.extend.ContainerName;
import dev.extend.NotFoundException;
import dev.extend.Page;
import dev.extend.VersionMismatchException;
import dev.extend.WebhookRef;
import dev.extend.internal.Cursors;
import dev.extend.spi.FunctionStore;
import dev.extend.spi.WebhookRecord;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.concurrent.ConcurrentSkipListMap;

/** A {@link FunctionStore} in memory. Writes are serialized; reads are lock-free. */
public final class InMemoryFunctionStore implements FunctionStore {
  private final ConcurrentSkipListMap<WebhookRef, WebhookRecord> records = new ConcurrentSkipListMap<>();

  @Override
  public Optional<WebhookRecord> get(WebhookRef ref) {
    return Optional.ofNullable(records.get(ref));
  }

  @Override
  public OptionalLong version(WebhookRef ref) {
    WebhookRecord r = records.get(ref);
    return r == null ? OptionalLong.empty() : OptionalLong.of(r.version());
  }

  @Override
  public synchronized WebhookRecord put(WebhookRecord record, OptionalLong expectedVersion) {
    WebhookRecord old = records.get(record.ref());
    check(record.ref(), old, expectedVersion);
    Instant now = Instant.now();
    WebhookRecord stored = old == null
        ? record.withVersion(1, now, now)
        : record.withVersion(old.version() + 1, old.createdAt(), now);
    records.put(record.ref(), stored);
    return stored;
  }

  @Override
  public synchronized boolean delete(WebhookRef ref, OptionalLong expectedVersion) {
    WebhookRecord old = records.get(ref);
    if (old == null && expectedVersion.isEmpty()) {
      return false;
    }
    check(ref, old, expectedVersion);
    records.remove(ref);
    return true;
  }

  private static void check(WebhookRef ref, WebhookRecord old, OptionalLong expected) {
    if (expected.isEmpty()) {
      return;
    }
    if (old == null) {
      throw new NotFoundException("webhook " + ref + " does not exist");
    }
    if (old.version() != expected.getAsLong()) {
      throw new VersionMismatchException("webhook " + ref + " is at version " + old.version()
          + ", not the expected " + expected.getAsLong());
    }
  }

  @Override
  public Page<WebhookRecord> list(ContainerName container, int limit, String cursor) {
    Cursors.checkLimit(limit);
    String after = Cursors.decode(cursor);
    List<WebhookRecord> items = new ArrayList<>();
    boolean more = false;
    for (Map.Entry<WebhookRef, WebhookRecord> e : records.entrySet()) {
      WebhookRef ref = e.getKey();
      if (!ref.container().equals(container)) {
        continue;
      }
      if (after != null && ref.name().value().compareTo(after) <= 0) {
        continue;
      }
      if (items.size() == limit) {
        more = true;
        break;
      }
      items.add(e.getValue());
    }
    String next = more ? Cursors.encode(items.get(items.size() - 1).ref().name().value()) : null;
    return new Page<>(items, next);
  }
}
