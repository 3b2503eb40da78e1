package dev.extend.internal;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import dev.extend.UnavailableException;
import dev.extend.WebhookRef;
import dev.extend.spi.FunctionStore;
import dev.extend.spi.WebhookRecord;
import java.time.Duration;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.concurrent.Executor;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Webhook metadata on the invocation path, re-validated against the store on a bounded
 * interval: an entry younger than half the bound is served as is; between half and the full
 * bound it is served while a background check (a version query, not a full read) runs; older
 * than the bound it is checked before it is served. Webhooks that do not exist are remembered
 * apart, in a smaller cache, so calls to made-up names cannot push real webhooks out. So a warm webhook makes no store round
 * trip on its invocations, and an update made through any node is served here within the
 * bound. When the store is unreachable, the last known copy keeps serving without waiting
 * for the store on each call.
 */
public final class MetadataCache {
  private static final Logger LOG = LoggerFactory.getLogger(MetadataCache.class);

  private static final class Entry {
    final Optional<WebhookRecord> value;
    volatile long checkedAt;
    final AtomicBoolean refreshing = new AtomicBoolean();

    Entry(Optional<WebhookRecord> value, long checkedAt) {
      this.value = value;
      this.checkedAt = checkedAt;
    }
  }

  private final FunctionStore store;
  private final long boundNanos;
  private final Executor background;
  private final Cache<WebhookRef, Entry> entries;
  private final Cache<WebhookRef, Entry> misses;

  /** A cache over {@code store} with the given staleness bound. */
  public MetadataCache(FunctionStore store, Duration bound, Executor background) {
    this.store = store;
    this.boundNanos = bound.toNanos();
    this.background = background;
    this.entries = Caffeine.newBuilder().maximumSize(100_000).build();
    this.misses = Caffeine.newBuilder().maximumSize(10_000).build();
  }

  private Entry entry(WebhookRef ref) {
    Entry e = entries.getIfPresent(ref);
    return e != null ? e : misses.getIfPresent(ref);
  }

  private void store(WebhookRef ref, Entry e) {
    if (e.value.isPresent()) {
      entries.put(ref, e);
      misses.invalidate(ref);
    } else {
      misses.put(ref, e);
      entries.invalidate(ref);
    }
  }

  /** The webhook, or empty when it does not exist. */
  public Optional<WebhookRecord> get(WebhookRef ref) {
    Entry e = entry(ref);
    long now = System.nanoTime();
    if (e != null) {
      long age = now - e.checkedAt;
      if (age < boundNanos / 2) {
        return e.value;
      }
      if (age < boundNanos) {
        if (e.refreshing.compareAndSet(false, true)) {
          background.execute(() -> {
            try {
              revalidate(ref, e);
            } catch (RuntimeException ex) {
              LOG.debug("background check of {} failed: {}", ref, ex.toString());
            } finally {
              e.refreshing.set(false);
            }
          });
        }
        return e.value;
      }
      try {
        return revalidate(ref, e);
      } catch (UnavailableException ex) {
        LOG.warn("store unavailable, serving the last known copy of {}: {}", ref, ex.getMessage());
        // Until the store answers again, serve from memory and let background checks
        // (one at a time) find out when it is back, instead of waiting on every call.
        e.checkedAt = System.nanoTime() - boundNanos / 2;
        return e.value;
      }
    }
    Optional<WebhookRecord> loaded = store.get(ref);
    store(ref, new Entry(loaded, now));
    return loaded;
  }

  private Optional<WebhookRecord> revalidate(WebhookRef ref, Entry e) {
    long now = System.nanoTime();
    OptionalLong v = store.version(ref);
    long cached = e.value.map(WebhookRecord::version).orElse(-1L);
    if ((v.isEmpty() && e.value.isEmpty()) || (v.isPresent() && v.getAsLong() == cached)) {
      e.checkedAt = now;
      return e.value;
    }
    Optional<WebhookRecord> fresh = v.isEmpty() ? Optional.empty() : store.get(ref);
    store(ref, new Entry(fresh, now));
    return fresh;
  }

  /** Whether {@link #get} would answer from memory without waiting for the store. */
  public boolean fresh(WebhookRef ref) {
    Entry e = entry(ref);
    return e != null && System.nanoTime() - e.checkedAt < boundNanos;
  }

  /** Records a write made through this node, so it is served at once. */
  public void put(WebhookRecord record) {
    store(record.ref(), new Entry(Optional.of(record), System.nanoTime()));
  }

  /** Records a delete made through this node. */
  public void remove(WebhookRef ref) {
    store(ref, new Entry(Optional.empty(), System.nanoTime()));
  }

  /** Entries kept: webhooks that exist, and names known not to (diagnostics and tests). */
  long[] sizes() {
    entries.cleanUp();
    misses.cleanUp();
    return new long[] {entries.estimatedSize(), misses.estimatedSize()};
  }
}
