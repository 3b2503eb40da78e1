package dev.extend.testing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.extend.ContainerName;
import dev.extend.Limits;
import dev.extend.ModuleRef;
import dev.extend.NotFoundException;
import dev.extend.Page;
import dev.extend.ValidationException;
import dev.extend.VersionMismatchException;
import dev.extend.WebhookRef;
import dev.extend.spi.FunctionStore;
import dev.extend.spi.WebhookRecord;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/**
 * The duties of {@link FunctionStore}, checked against an implementation. Subclasses return a
 * fresh, empty store from {@link #createStore()}; it is closed after each test.
 */
public abstract class FunctionStoreContract extends StoreContract<FunctionStore> {


  /** A webhook with the given code and secrets. */
  protected static WebhookRecord webhook(WebhookRef ref, String code, Map<String, String> secrets) {
    return new WebhookRecord(ref, code, List.of(new ModuleRef("lodash", "4.17.21")), secrets,
        Map.of("owner", "team-a"), new Limits(Duration.ofSeconds(30), 256), "node22", 0, null, null);
  }

  private static WebhookRecord webhook(WebhookRef ref, String code) {
    return webhook(ref, code, Map.of("API_KEY", "s3cret"));
  }

  @Test
  void newWebhookGetsVersionOneAndReadsBackExactly() {
    WebhookRef ref = WebhookRef.of("acme", "on-order");
    WebhookRecord stored = store.put(webhook(ref, "module.exports = () => 1;"), OptionalLong.empty());

    assertThat(stored.version()).isEqualTo(1);
    assertThat(stored.createdAt()).isNotNull().isEqualTo(stored.updatedAt());
    assertThat(store.get(ref)).contains(stored);
    assertThat(store.version(ref)).hasValue(1);
    assertThat(stored.code()).isEqualTo("module.exports = () => 1;");
  }

  @Test
  void missingWebhookIsEmpty() {
    WebhookRef ref = WebhookRef.of("acme", "nothing");
    assertThat(store.get(ref)).isEmpty();
    assertThat(store.version(ref)).isEmpty();
    assertThat(store.delete(ref, OptionalLong.empty())).isFalse();
  }

  @Test
  void everyUpdateBumpsTheVersionAndKeepsCreatedAt() throws InterruptedException {
    WebhookRef ref = WebhookRef.of("acme", "hook");
    WebhookRecord v1 = store.put(webhook(ref, "a"), OptionalLong.empty());
    Thread.sleep(5);
    WebhookRecord v2 = store.put(webhook(ref, "b"), OptionalLong.empty());
    Thread.sleep(5);
    WebhookRecord v3 = store.put(webhook(ref, "c"), OptionalLong.of(2));

    assertThat(v2.version()).isEqualTo(2);
    assertThat(v3.version()).isEqualTo(3);
    assertThat(v3.createdAt()).isEqualTo(v1.createdAt());
    assertThat(v3.updatedAt()).isAfter(v1.updatedAt());
    assertThat(store.get(ref)).contains(v3);
  }

  @Test
  void putWithStaleVersionFailsAndStoresNothing() {
    WebhookRef ref = WebhookRef.of("acme", "hook");
    store.put(webhook(ref, "a"), OptionalLong.empty());
    WebhookRecord v2 = store.put(webhook(ref, "b"), OptionalLong.of(1));

    assertThatThrownBy(() -> store.put(webhook(ref, "stale", Map.of("NEW", "x")), OptionalLong.of(1)))
        .isInstanceOf(VersionMismatchException.class);
    assertThat(store.get(ref)).contains(v2);
  }

  @Test
  void expectedVersionOfMissingWebhookIsNotFound() {
    WebhookRef ref = WebhookRef.of("acme", "ghost");
    assertThatThrownBy(() -> store.put(webhook(ref, "a"), OptionalLong.of(1))).isInstanceOf(NotFoundException.class);
    assertThatThrownBy(() -> store.delete(ref, OptionalLong.of(1))).isInstanceOf(NotFoundException.class);
    assertThat(store.get(ref)).isEmpty();
  }

  @Test
  void deleteHonoursExpectedVersion() {
    WebhookRef ref = WebhookRef.of("acme", "hook");
    store.put(webhook(ref, "a"), OptionalLong.empty());
    store.put(webhook(ref, "b"), OptionalLong.empty());

    assertThatThrownBy(() -> store.delete(ref, OptionalLong.of(1))).isInstanceOf(VersionMismatchException.class);
    assertThat(store.version(ref)).hasValue(2);
    assertThat(store.delete(ref, OptionalLong.of(2))).isTrue();
    assertThat(store.get(ref)).isEmpty();
    assertThat(store.delete(ref, OptionalLong.empty())).isFalse();

    WebhookRecord again = store.put(webhook(ref, "c"), OptionalLong.empty());
    assertThat(again.version()).as("a re-created webhook starts again at version 1").isEqualTo(1);
  }

  @Test
  void concurrentWritersOnTheSameBaseVersionExactlyOneWins() throws InterruptedException {
    WebhookRef ref = WebhookRef.of("acme", "contended");
    store.put(webhook(ref, "base"), OptionalLong.empty());
    for (int round = 1; round <= 5; round++) {
      long base = round;
      List<Race.Outcome<WebhookRecord>> outcomes = Race.run(8,
          i -> () -> store.put(webhook(ref, "writer " + i), OptionalLong.of(base)));

      List<WebhookRecord> winners = outcomes.stream().filter(Race.Outcome::ok).map(Race.Outcome::value).toList();
      assertThat(winners).as("round %d", round).hasSize(1);
      assertThat(outcomes.stream().filter(o -> !o.ok()).map(Race.Outcome::error))
          .allMatch(e -> e instanceof VersionMismatchException, "all losers get VersionMismatchException");
      assertThat(winners.get(0).version()).isEqualTo(base + 1);
      assertThat(store.get(ref).orElseThrow().code()).isEqualTo(winners.get(0).code());
    }
  }

  @Test
  void concurrentUnconditionalPutsAreNeverLost() throws InterruptedException {
    WebhookRef ref = WebhookRef.of("acme", "busy");
    List<Race.Outcome<List<Long>>> outcomes = Race.run(8, i -> () -> {
      List<Long> versions = new ArrayList<>();
      for (int k = 0; k < 10; k++) {
        versions.add(store.put(webhook(ref, "w" + i + "-" + k), OptionalLong.empty()).version());
      }
      return versions;
    });

    Set<Long> versions = new HashSet<>();
    for (Race.Outcome<List<Long>> o : outcomes) {
      assertThat(o.error()).isNull();
      versions.addAll(o.value());
    }
    assertThat(versions).as("each put stored its own version: 1..80")
        .isEqualTo(java.util.stream.LongStream.rangeClosed(1, 80).boxed().collect(Collectors.toSet()));
    assertThat(store.version(ref)).hasValue(80);
  }

  @Test
  void concurrentCreationMakesExactlyOneVersionOne() throws InterruptedException {
    WebhookRef ref = WebhookRef.of("acme", "fresh");
    List<Race.Outcome<WebhookRecord>> outcomes = Race.run(8,
        i -> () -> store.put(webhook(ref, "creator " + i), OptionalLong.empty()));

    List<Long> versions = outcomes.stream().peek(o -> assertThat(o.error()).isNull())
        .map(o -> o.value().version()).sorted().toList();
    assertThat(versions).containsExactly(1L, 2L, 3L, 4L, 5L, 6L, 7L, 8L);
    Set<Object> createdAts = outcomes.stream().map(o -> o.value().createdAt()).collect(Collectors.toSet());
    assertThat(createdAts).as("all writers saw one creation time").hasSize(1);
  }

  @Test
  void readersSeeTheOldOrTheNewRecordNeverAMix() throws Exception {
    WebhookRef ref = WebhookRef.of("acme", "atomic");
    store.put(webhook(ref, "v0", Map.of("K", "v0")), OptionalLong.empty());
    AtomicBoolean done = new AtomicBoolean();
    AtomicReference<String> torn = new AtomicReference<>();
    Thread reader = new Thread(() -> {
      while (!done.get()) {
        WebhookRecord r = store.get(ref).orElseThrow();
        String code = r.code();
        if (!code.equals(r.secrets().get("K")) || !code.equals("v" + (r.version() - 1))) {
          torn.compareAndSet(null, "version " + r.version() + " code " + code + " secrets " + r.secrets());
        }
      }
    });
    reader.start();
    try {
      for (int i = 1; i <= 60; i++) {
        store.put(webhook(ref, "v" + i, Map.of("K", "v" + i)), OptionalLong.empty());
      }
    } finally {
      done.set(true);
      reader.join();
    }
    assertThat(torn.get()).as("a torn read").isNull();
  }

  @Test
  void secretsMetaDependenciesAndLimitsRoundTripExactly() {
    WebhookRef ref = WebhookRef.of("acme", "secretive");
    Map<String, String> secrets = Map.of(
        "EMPTY", "",
        "UNICODE", "p\u00e4ss \u2603 \uD83D\uDE80 \u65e5\u672c",
        "MULTILINE", "-----BEGIN KEY-----\nabc\r\ndef\n-----END KEY-----\n",
        "QUOTES", "\"'\\`${x}",
        "LONG", "x".repeat(20_000));
    WebhookRecord record = new WebhookRecord(ref, "// \u2603 code\n'use strict';",
        List.of(new ModuleRef("@scope/pkg", "1.0.0-beta.1"), new ModuleRef("lodash", "4.17.21")), secrets,
        Map.of("a", "1", "b", "\u00fc\n\"x\"", "empty", ""), new Limits(Duration.ofMillis(1234), 512), "node24", 0, null, null);
    store.put(record, OptionalLong.empty());

    WebhookRecord read = store.get(ref).orElseThrow();
    assertThat(read.secrets()).isEqualTo(secrets);
    assertThat(read.meta()).isEqualTo(record.meta());
    assertThat(read.dependencies()).isEqualTo(record.dependencies());
    assertThat(read.limits()).isEqualTo(record.limits());
    assertThat(read.code()).isEqualTo(record.code());

    WebhookRecord none = store.put(webhook(ref, "x", Map.of()), OptionalLong.empty());
    assertThat(store.get(ref).orElseThrow().secrets()).isEmpty();
    assertThat(none.secrets()).isEmpty();
  }

  @Test
  void listIsOrderedByNameAndPagesCoverEverything() {
    ContainerName acme = ContainerName.of("acme");
    List<String> names = List.of("b", "A", "a", "Z9", "a_2", "a-1", "B", "zz", "0x", "m");
    for (String n : names) {
      store.put(webhook(new WebhookRef(acme, dev.extend.WebhookName.of(n)), n), OptionalLong.empty());
    }
    store.put(webhook(WebhookRef.of("other", "a"), "other"), OptionalLong.empty());

    List<String> seen = new ArrayList<>();
    String cursor = null;
    int pages = 0;
    do {
      Page<WebhookRecord> page = store.list(acme, 3, cursor);
      assertThat(page.items().size()).isLessThanOrEqualTo(3);
      page.items().forEach(r -> {
        assertThat(r.ref().container()).isEqualTo(acme);
        seen.add(r.ref().name().value());
      });
      cursor = page.nextCursor();
      pages++;
    } while (cursor != null && pages < 20);

    assertThat(seen).isEqualTo(names.stream().sorted().toList());
    assertThat(pages).isEqualTo(4);
    assertThat(store.list(acme, 1000, null).items()).hasSize(names.size());
    assertThat(store.list(ContainerName.of("empty"), 10, null)).isEqualTo(new Page<>(List.of(), null));
    assertThat(store.count(acme, 1000)).isEqualTo(names.size());
    assertThat(store.count(ContainerName.of("other"), 1000)).isEqualTo(1);
    assertThat(store.count(ContainerName.of("empty"), 1000)).isZero();
    assertThat(store.count(acme, 3)).isGreaterThanOrEqualTo(3);
  }

  @Test
  void listReturnsWholeRecords() {
    WebhookRef ref = WebhookRef.of("acme", "whole");
    WebhookRecord stored = store.put(webhook(ref, "code"), OptionalLong.empty());
    assertThat(store.list(ref.container(), 10, null).items()).containsExactly(stored);
  }

  @Test
  void cursorIsStableAcrossInsertsAndDeletes() {
    ContainerName acme = ContainerName.of("acme");
    for (String n : List.of("b", "d", "f", "h", "j")) {
      store.put(webhook(new WebhookRef(acme, dev.extend.WebhookName.of(n)), n), OptionalLong.empty());
    }
    Page<WebhookRecord> first = store.list(acme, 2, null);
    assertThat(first.items()).extracting(r -> r.ref().name().value()).containsExactly("b", "d");

    // Before the cursor: must not appear; after it: must; the cursor's own item is deleted.
    store.put(webhook(WebhookRef.of("acme", "a"), "new"), OptionalLong.empty());
    store.put(webhook(WebhookRef.of("acme", "c"), "new"), OptionalLong.empty());
    store.put(webhook(WebhookRef.of("acme", "e"), "new"), OptionalLong.empty());
    store.delete(WebhookRef.of("acme", "d"), OptionalLong.empty());
    store.delete(WebhookRef.of("acme", "h"), OptionalLong.empty());

    List<String> rest = new ArrayList<>();
    String cursor = first.nextCursor();
    while (cursor != null) {
      Page<WebhookRecord> page = store.list(acme, 2, cursor);
      page.items().forEach(r -> rest.add(r.ref().name().value()));
      cursor = page.nextCursor();
    }
    assertThat(rest).containsExactly("e", "f", "j");
  }

  @Test
  void invalidLimitIsRejected() {
    assertThatThrownBy(() -> store.list(ContainerName.of("acme"), 0, null)).isInstanceOf(ValidationException.class);
    assertThatThrownBy(() -> store.list(ContainerName.of("acme"), 1001, null)).isInstanceOf(ValidationException.class);
  }
}
