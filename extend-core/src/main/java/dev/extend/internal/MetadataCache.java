package dev.extend.internal;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import dev.extend.UnavailableException;
import dev.extend.WebhookRef;
import dev.extend.spi.FunctionStore;
import dev.extend.spi.WebhookRecord;
import java.time.Duration;
import java.time.temporal.ChronoUnit;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.concurrent.Executor;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Webhook metadata on the invocation path, re-validated against the store on a bounded
 * interval: an entry younger than half the bound is served as is; between half and the full
 * bound it is served while a background check (a version query, not a full read) runs; older
 * than the bound it is checked before it is served. So a warm webhook makes no store round
 * trip on its invocations, and an update made through any node is served here within the
 * bound. When the store is unreachable, the last known copy keeps serving without waiting
 * for the store on each call. Webhooks that do not exist are remembered apart, in a smaller
 * cache, so calls to made-up names cannot push real webhooks out.
 *
 * <p>A version number alone cannot tell a webhook from one deleted and created again under the
 * same name (both start at version 1). So an entry whose version still matches is read in full
 * again once it is {@link #REREAD_FACTOR} bounds old, and compared by creation time: a webhook
 * deleted, or replaced by a new one of the same name, is reported to the {@code gone} listener
 * (which retires the container's sandbox on this node, so no code or state of the old one
 * survives) within that interval of a call noticing it. The default bound of 1 s makes that
 * 10 s; a webhook nobody calls here is never checked, and its container's sandbox is reclaimed
 * by the idle timeout.
 */
public final class MetadataCache {
  private static final Logger LOG = LoggerFactory.getLogger(MetadataCache.class);

  /** An entry whose version matches is read in full again after this many bounds. */
  public static final int REREAD_FACTOR = 10;

  private static final class Entry {
    final Optional<WebhookRecord> value;
    volatile long checkedAt;
    /** When {@link #value} was read in full. */
    final long loadedAt;
    final AtomicBoolean refreshing = new AtomicBoolean();

    Entry(Optional<WebhookRecord> value, long checkedAt) {
      this.value = value;
      this.checkedAt = checkedAt;
      this.loadedAt = checkedAt;
    }
  }

  private final FunctionStore store;
  private final long boundNanos;
  private final Executor background;
  private final Consumer<WebhookRef> gone;
  private final Cache<WebhookRef, Entry> entries;
  private final Cache<WebhookRef, Entry> misses;

  /** A cache over {@code store} with the given staleness bound. */
  public MetadataCache(FunctionStore store, Duration bound, Executor background) {
    this(store, bound, background, ref -> { });
  }

  /**
   * A cache over {@code store} with the given staleness bound, telling {@code gone} about each
   * webhook it served that turns out deleted, or replaced by a new webhook of the same name.
   */
  public MetadataCache(FunctionStore store, Duration bound, Executor background, Consumer<WebhookRef> gone) {
    this.store = store;
    this.boundNanos = bound.toNanos();
    this.background = background;
    this.gone = gone;
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
    boolean same = (v.isEmpty() && e.value.isEmpty()) || (v.isPresent() && v.getAsLong() == cached);
    if (same && (e.value.isEmpty() || now - e.loadedAt < REREAD_FACTOR * boundNanos)) {
      e.checkedAt = now;
      return e.value;
    }
    Optional<WebhookRecord> fresh = v.isEmpty() ? Optional.empty() : store.get(ref);
    store(ref, new Entry(fresh, now));
    if (e.value.isPresent() && (fresh.isEmpty() || replaced(e.value.get(), fresh.get()))) {
      notifyGone(ref);
    }
    return fresh;
  }

  /** Whether {@code fresh} is another webhook than {@code old}: deleted and created again. */
  static boolean replaced(WebhookRecord old, WebhookRecord fresh) {
    // millisecond precision: stores keep timestamps at different precisions
    return !old.createdAt().truncatedTo(ChronoUnit.MILLIS).equals(fresh.createdAt().truncatedTo(ChronoUnit.MILLIS));
  }

  private void notifyGone(WebhookRef ref) {
    try {
      gone.accept(ref);
    } catch (RuntimeException ex) {
      LOG.warn("handling the deletion of {} failed: {}", ref, ex.toString());
    }
  }

  /** Whether {@link #get} would answer from memory without waiting for the store. */
  public boolean fresh(WebhookRef ref) {
    Entry e = entry(ref);
    return e != null && System.nanoTime() - e.checkedAt < boundNanos;
  }

  /** Records a write made through this node, so it is served at once. */
  public void put(WebhookRecord record) {
    Entry old = entries.getIfPresent(record.ref());
    store(record.ref(), new Entry(Optional.of(record), System.nanoTime()));
    if (old != null && old.value.isPresent() && replaced(old.value.get(), record)) {
      notifyGone(record.ref());
    }
  }

  /** Records a delete made through this node (and tells the {@code gone} listener). */
  public void remove(WebhookRef ref) {
    store(ref, new Entry(Optional.empty(), System.nanoTime()));
    notifyGone(ref);
  }

  /** Entries kept: webhooks that exist, and names known not to (diagnostics and tests). */
  long[] sizes() {
    entries.cleanUp();
    misses.cleanUp();
    return new long[] {entries.estimatedSize(), misses.estimatedSize()};
  }
}
