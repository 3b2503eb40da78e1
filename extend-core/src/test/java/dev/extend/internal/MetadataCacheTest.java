package dev.extend.internal;

import static org.assertj.core.api.Assertions.assertThat;

import dev.extend.ContainerName;
import dev.extend.Limits;
import dev.extend.Page;
import dev.extend.UnavailableException;
import dev.extend.WebhookRef;
import dev.extend.spi.FunctionStore;
import dev.extend.spi.WebhookRecord;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class MetadataCacheTest {
  /** The in-memory store, counting reads, that can be switched off like a database outage. */
  static final class CountingStore implements FunctionStore {
    final FunctionStore delegate = FunctionStore.inMemory();
    final AtomicInteger gets = new AtomicInteger();
    final AtomicInteger versions = new AtomicInteger();
    volatile boolean down;

    private void check() {
      if (down) {
        throw new UnavailableException("store down");
      }
    }

    @Override
    public Optional<WebhookRecord> get(WebhookRef ref) {
      gets.incrementAndGet();
      check();
      return delegate.get(ref);
    }

    @Override
    public OptionalLong version(WebhookRef ref) {
      versions.incrementAndGet();
      check();
      return delegate.version(ref);
    }

    @Override
    public WebhookRecord put(WebhookRecord record, OptionalLong expectedVersion) {
      return delegate.put(record, expectedVersion);
    }

    @Override
    public boolean delete(WebhookRef ref, OptionalLong expectedVersion) {
      return delegate.delete(ref, expectedVersion);
    }

    @Override
    public Page<WebhookRecord> list(ContainerName container, int limit, String cursor) {
      return delegate.list(container, limit, cursor);
    }
  }

  static final WebhookRef REF = WebhookRef.of("acme", "hook");

  static WebhookRecord record(String code) {
    return new WebhookRecord(REF, code, List.of(), Map.of(), Map.of(), new Limits(Duration.ofSeconds(1), 128), "node22", 0, null, null);
  }

  @Test
  void freshEntriesAreServedFromMemory() {
    CountingStore store = new CountingStore();
    store.put(record("v1"), OptionalLong.empty());
    MetadataCache cache = new MetadataCache(store, Duration.ofSeconds(60), Runnable::run);
    for (int i = 0; i < 1000; i++) {
      assertThat(cache.get(REF).orElseThrow().code()).isEqualTo("v1");
    }
    assertThat(store.gets.get()).isEqualTo(1);
    assertThat(store.versions.get()).isZero();
  }

  @Test
  void anUpdateElsewhereIsSeenOnceTheBoundPasses() throws Exception {
    CountingStore store = new CountingStore();
    store.put(record("v1"), OptionalLong.empty());
    MetadataCache cache = new MetadataCache(store, Duration.ofMillis(100), Runnable::run);
    assertThat(cache.get(REF).orElseThrow().code()).isEqualTo("v1");
    store.put(record("v2"), OptionalLong.empty()); // written through another node
    Thread.sleep(120);
    assertThat(cache.get(REF).orElseThrow().code()).isEqualTo("v2");
    store.delete(REF, OptionalLong.empty());
    Thread.sleep(120);
    assertThat(cache.get(REF)).isEmpty();
  }

  @Test
  void anUnchangedVersionCostsOnlyAVersionQuery() throws Exception {
    CountingStore store = new CountingStore();
    store.put(record("v1"), OptionalLong.empty());
    MetadataCache cache = new MetadataCache(store, Duration.ofMillis(50), Runnable::run);
    cache.get(REF);
    Thread.sleep(60);
    cache.get(REF);
    assertThat(store.gets.get()).isEqualTo(1);
    assertThat(store.versions.get()).isEqualTo(1);
  }

  @Test
  void duringAnOutageTheLastKnownCopyServesWithoutWaitingEachTime() throws Exception {
    CountingStore store = new CountingStore();
    store.put(record("v1"), OptionalLong.empty());
    MetadataCache cache = new MetadataCache(store, Duration.ofMillis(50), r -> { });
    cache.get(REF);
    store.down = true;
    Thread.sleep(60);
    assertThat(cache.get(REF).orElseThrow().code()).isEqualTo("v1");
    int checks = store.versions.get();
    for (int i = 0; i < 100; i++) {
      assertThat(cache.get(REF).orElseThrow().code()).isEqualTo("v1");
    }
    // the failed check backed off: further calls did not wait on the store
    assertThat(store.versions.get()).isEqualTo(checks);
  }

  /** A flood of calls to made-up names is remembered apart, bounded, and pushes out no real webhook. */
  @Test
  void madeUpNamesCannotPushRealWebhooksOut() {
    CountingStore store = new CountingStore();
    store.put(record("v1"), OptionalLong.empty());
    MetadataCache cache = new MetadataCache(store, Duration.ofSeconds(60), Runnable::run);
    assertThat(cache.get(REF)).isPresent();
    for (int i = 0; i < 150_000; i++) {
      assertThat(cache.get(WebhookRef.of("acme", "made-up-" + i))).isEmpty();
    }
    long[] sizes = cache.sizes();
    assertThat(sizes[0]).isEqualTo(1);
    assertThat(sizes[1]).isLessThanOrEqualTo(10_000);
    int before = store.gets.get();
    assertThat(cache.get(REF).orElseThrow().code()).isEqualTo("v1");
    assertThat(store.gets.get()).as("served from memory").isEqualTo(before);
  }

  @Test
  void aWebhookDeletedAndCreatedAgainAtTheSameVersionIsNoticedByTheRereadAndReportedGone() throws Exception {
    CountingStore store = new CountingStore();
    store.put(record("old tenant"), OptionalLong.empty());
    List<WebhookRef> gone = new java.util.concurrent.CopyOnWriteArrayList<>();
    MetadataCache cache = new MetadataCache(store, Duration.ofMillis(20), Runnable::run, gone::add);
    assertThat(cache.get(REF).orElseThrow().code()).isEqualTo("old tenant");
    // through another node: deleted, created again, again at version 1
    store.delete(REF, OptionalLong.empty());
    Thread.sleep(2);
    assertThat(store.put(record("new tenant"), OptionalLong.empty()).version()).isEqualTo(1);
    // a version query alone cannot tell them apart...
    Thread.sleep(30);
    assertThat(cache.get(REF).orElseThrow().code()).isEqualTo("old tenant");
    // ...the full re-read after REREAD_FACTOR bounds does
    Thread.sleep(20L * MetadataCache.REREAD_FACTOR + 20);
    assertThat(cache.get(REF).orElseThrow().code()).isEqualTo("new tenant");
    assertThat(gone).containsExactly(REF);
    // a delete through this node is reported too
    cache.remove(REF);
    assertThat(gone).containsExactly(REF, REF);
  }
}
