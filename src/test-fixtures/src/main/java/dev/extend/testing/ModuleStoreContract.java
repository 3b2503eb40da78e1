package dev.extend.testing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.extend.ModuleRef;
import dev.extend.ModuleState;
import dev.extend.NotFoundException;
import dev.extend.Page;
import dev.extend.spi.Artifact;
import dev.extend.spi.ModuleRecord;
import dev.extend.spi.ModuleStore;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The duties of {@link ModuleStore}, checked against an implementation. Subclasses return a
 * fresh, empty store from {@link #createStore()}.
 */
public abstract class ModuleStoreContract extends StoreContract<ModuleStore> {


  private static final ModuleRef LODASH = new ModuleRef("lodash", "4.17.21");

  @Test
  void createIfAbsentCreatesAQueuedRecordOnce() {
    assertThat(store.get(LODASH)).isEmpty();
    assertThat(store.createIfAbsent(LODASH)).isTrue();
    assertThat(store.createIfAbsent(LODASH)).isFalse();

    ModuleRecord r = store.get(LODASH).orElseThrow();
    assertThat(r.module()).isEqualTo(LODASH);
    assertThat(r.state()).isEqualTo(ModuleState.QUEUED);
    assertThat(r.artifact()).isNull();
    assertThat(r.log()).isEmpty();
    assertThat(r.updatedAt()).isNotNull();
  }

  @Test
  void updateReplacesStateLogAndArtifact() {
    store.createIfAbsent(LODASH);
    store.update(LODASH, ModuleState.BUILDING, "npm install lodash@4.17.21\n", null);
    assertThat(store.get(LODASH).orElseThrow().state()).isEqualTo(ModuleState.BUILDING);

    Artifact tarball = new Artifact("ab".repeat(32), 123_456);
    store.update(LODASH, ModuleState.READY, "added 1 package\n", tarball);
    ModuleRecord ready = store.get(LODASH).orElseThrow();
    assertThat(ready.state()).isEqualTo(ModuleState.READY);
    assertThat(ready.log()).isEqualTo("added 1 package\n");
    assertThat(ready.artifact()).isEqualTo(tarball);
    assertThat(ready.status().state()).isEqualTo(ModuleState.READY);

    store.update(LODASH, ModuleState.FAILED, "npm ERR! 404", null);
    ModuleRecord failed = store.get(LODASH).orElseThrow();
    assertThat(failed.state()).isEqualTo(ModuleState.FAILED);
    assertThat(failed.artifact()).isNull();
    assertThat(failed.log()).isEqualTo("npm ERR! 404");
  }

  @Test
  void eachAbiOfAVersionIsItsOwnRecord() {
    ModuleRef abi115 = LODASH.forAbi(115);
    ModuleRef abi127 = LODASH.forAbi(127);
    assertThat(store.createIfAbsent(abi115)).isTrue();
    assertThat(store.createIfAbsent(abi127)).isTrue();
    assertThat(store.createIfAbsent(abi127)).isFalse();
    store.update(abi127, ModuleState.READY, "built for 127", new Artifact("cd".repeat(32), 7));
    assertThat(store.get(abi115).orElseThrow().state()).isEqualTo(ModuleState.QUEUED);
    ModuleRecord r = store.get(abi127).orElseThrow();
    assertThat(r.module()).isEqualTo(abi127);
    assertThat(r.module().abi()).isEqualTo(127);
    assertThat(r.state()).isEqualTo(ModuleState.READY);
    assertThat(store.get(LODASH.forAbi(137))).isEmpty();
    // listed one after the other, in ABI order, also across pages
    var first = store.list(1, null);
    assertThat(first.items()).extracting(ModuleRecord::module).containsExactly(abi115);
    assertThat(store.list(1, first.nextCursor()).items()).extracting(ModuleRecord::module).containsExactly(abi127);
  }

  @Test
  void updateOfAMissingRecordIsNotFound() {
    assertThatThrownBy(() -> store.update(LODASH, ModuleState.READY, "", null)).isInstanceOf(NotFoundException.class);
    assertThat(store.get(LODASH)).isEmpty();
  }

  @Test
  void longLogsKeepTheirTail() {
    store.createIfAbsent(LODASH);
    StringBuilder log = new StringBuilder();
    for (int i = 0; log.length() < 2_000_000; i++) {
      log.append("line ").append(i).append(" \u00e9\u2603 npm http fetch GET 200\n");
    }
    log.append("npm ERR! the real reason is at the end\n");
    store.update(LODASH, ModuleState.FAILED, log.toString(), null);

    String kept = store.get(LODASH).orElseThrow().log();
    assertThat(kept).isNotEmpty();
    assertThat(log.toString()).endsWith(kept);
    assertThat(kept).endsWith("npm ERR! the real reason is at the end\n");
  }

  @Test
  void concurrentCreatorsExactlyOneWins() throws InterruptedException {
    for (int m = 0; m < 10; m++) {
      ModuleRef module = new ModuleRef("pkg-" + m, "1.0." + m);
      List<Race.Outcome<Boolean>> outcomes = Race.run(12, i -> () -> store.createIfAbsent(module));
      assertThat(outcomes).allMatch(Race.Outcome::ok);
      assertThat(outcomes.stream().filter(o -> o.value()).count()).as(module.toString()).isEqualTo(1);
      assertThat(store.get(module).orElseThrow().state()).isEqualTo(ModuleState.QUEUED);
    }
  }

  @Test
  void listIsOrderedByNameThenVersion() {
    // Names chosen so that ordering by "name@version" as one string would differ.
    List<ModuleRef> modules = List.of(
        new ModuleRef("a-b", "1.0.0"), new ModuleRef("a", "2.0.0"), new ModuleRef("a", "10.0.0"),
        new ModuleRef("@scope/x", "1.0.0"), new ModuleRef("a.b", "0.0.1"), new ModuleRef("z", "1.0.0-rc.1"),
        new ModuleRef("z", "1.0.0"), new ModuleRef("ab", "3.1.4"));
    modules.forEach(store::createIfAbsent);

    List<ModuleRef> seen = new ArrayList<>();
    String cursor = null;
    int pages = 0;
    do {
      Page<ModuleRecord> page = store.list(3, cursor);
      page.items().forEach(r -> seen.add(r.module()));
      cursor = page.nextCursor();
      pages++;
    } while (cursor != null && pages < 20);

    assertThat(seen).isEqualTo(modules.stream().sorted().toList());
    assertThat(store.list(1000, null).items()).hasSize(modules.size());
  }

  @Test
  void listCursorIsStableAcrossInserts() {
    for (String n : List.of("b", "d", "f")) {
      store.createIfAbsent(new ModuleRef(n, "1.0.0"));
    }
    Page<ModuleRecord> first = store.list(1, null);
    assertThat(first.items()).extracting(r -> r.module().name()).containsExactly("b");
    store.createIfAbsent(new ModuleRef("a", "1.0.0"));
    store.createIfAbsent(new ModuleRef("b", "2.0.0"));

    List<String> rest = new ArrayList<>();
    String cursor = first.nextCursor();
    while (cursor != null) {
      Page<ModuleRecord> page = store.list(2, cursor);
      page.items().forEach(r -> rest.add(r.module().toString()));
      cursor = page.nextCursor();
    }
    assertThat(rest).containsExactly("b@2.0.0", "d@1.0.0", "f@1.0.0");
  }
}
