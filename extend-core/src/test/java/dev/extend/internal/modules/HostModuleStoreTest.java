package dev.extend.internal.modules;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.extend.ModuleRef;
import dev.extend.ModuleState;
import dev.extend.spi.Artifact;
import dev.extend.spi.ArtifactStore;
import dev.extend.spi.ModuleRecord;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class HostModuleStoreTest {
  @TempDir Path temp;

  /** Packs node_modules/<name>/ with a package.json and index.js, the way builders do, with the system tar. */
  private Path tarball(ModuleRef m, String extraEntry) throws Exception {
    Path src = Files.createDirectories(temp.resolve("src-" + m.storeKey()));
    Path pkg = Files.createDirectories(src.resolve("node_modules").resolve(m.name()));
    Files.writeString(pkg.resolve("package.json"), "{\"name\":\"" + m.name() + "\",\"version\":\"" + m.version() + "\"}");
    Files.writeString(pkg.resolve("index.js"), "module.exports = '" + m + "';");
    Files.createDirectories(src.resolve("node_modules/.bin"));
    Files.createSymbolicLink(src.resolve("node_modules/.bin/tool"), Path.of("../" + m.name() + "/index.js"));
    if (extraEntry != null) {
      Files.createSymbolicLink(src.resolve("node_modules/sneaky"), Path.of(extraEntry));
    }
    Path out = temp.resolve(m.storeKey() + ".tgz");
    Process p = new ProcessBuilder("tar", "czf", out.toString(), "-C", src.toString(), "node_modules").inheritIO().start();
    assertThat(p.waitFor()).isZero();
    return out;
  }

  private ModuleRecord ready(ArtifactStore artifacts, ModuleRef m, Path tgz) throws IOException {
    try (InputStream in = Files.newInputStream(tgz)) {
      Artifact a = artifacts.put(in, 1 << 30);
      return new ModuleRecord(m, ModuleState.READY, "", a, Instant.now());
    }
  }

  @Test
  void unpacksOnceEvenWhenManyAskAtOnce() throws Exception {
    AtomicInteger opens = new AtomicInteger();
    ArtifactStore base = ArtifactStore.inMemory();
    ArtifactStore counting = new ArtifactStore() {
      @Override
      public Artifact put(InputStream content, long maxBytes) throws IOException {
        return base.put(content, maxBytes);
      }

      @Override
      public java.util.Optional<InputStream> open(String digest) throws IOException {
        opens.incrementAndGet();
        return base.open(digest);
      }

      @Override
      public boolean exists(String digest) {
        return base.exists(digest);
      }

      @Override
      public boolean delete(String digest) {
        return base.delete(digest);
      }
    };
    ModuleRef m = ModuleRef.parse("@scope/pkg@1.2.3");
    ModuleRecord record = ready(counting, m, tarball(m, null));
    HostModuleStore store = new HostModuleStore(temp.resolve("store"), counting);
    List<CompletableFuture<Path>> all = new ArrayList<>();
    for (int i = 0; i < 10; i++) {
      all.add(CompletableFuture.supplyAsync(() -> {
        try {
          return store.ensure(record);
        } catch (IOException e) {
          throw new java.io.UncheckedIOException(e);
        }
      }));
    }
    all.forEach(CompletableFuture::join);
    assertThat(opens.get()).isEqualTo(1);
    Path dir = store.dir(ModuleRef.parse("@scope/pkg@1.2.3"));
    assertThat(dir.resolve("node_modules/@scope/pkg/index.js")).hasContent("module.exports = '@scope/pkg@1.2.3';");
    assertThat(Files.isSymbolicLink(dir.resolve("node_modules/.bin/tool"))).isTrue();
    assertThat(store.root()).isDirectoryNotContaining(p -> p.getFileName().toString().startsWith(".tmp-"));
  }

  @Test
  void refusesCorruptArtifactsAndEscapingLinks() throws Exception {
    ArtifactStore artifacts = ArtifactStore.inMemory();
    HostModuleStore store = new HostModuleStore(temp.resolve("store"), artifacts);
    ModuleRef evil = ModuleRef.parse("evil@1.0.0");
    ModuleRecord record = ready(artifacts, evil, tarball(evil, "/etc/passwd"));
    assertThatThrownBy(() -> store.ensure(record)).isInstanceOf(IOException.class).hasMessageContaining("absolute path");
    assertThat(store.present(evil)).isFalse();

    ModuleRef m = ModuleRef.parse("fine@1.0.0");
    ModuleRecord good = ready(artifacts, m, tarball(m, null));
    ModuleRecord lying = new ModuleRecord(m, ModuleState.READY, "", new Artifact(record.artifact().digest(),
        record.artifact().size()), Instant.now());
    assertThatThrownBy(() -> store.ensure(lying)).isInstanceOf(IOException.class);
    assertThat(store.ensure(good)).isDirectory();
  }

  /** An artifact store whose blob for one digest was replaced behind its back (a tampered database row). */
  private static ArtifactStore tampered(ArtifactStore base, String digest, byte[] replacement, AtomicInteger opens) {
    return new ArtifactStore() {
      @Override
      public Artifact put(InputStream content, long maxBytes) throws IOException {
        return base.put(content, maxBytes);
      }

      @Override
      public java.util.Optional<InputStream> open(String d) throws IOException {
        opens.incrementAndGet();
        return d.equals(digest) ? java.util.Optional.of(new java.io.ByteArrayInputStream(replacement)) : base.open(d);
      }

      @Override
      public boolean exists(String d) {
        return base.exists(d);
      }

      @Override
      public boolean delete(String d) {
        return base.delete(d);
      }
    };
  }

  /**
   * The link chain that escaped before: {@code l1 -> .}, so {@code l1/l1/l1/up} is {@code up} in
   * the staging directory {@code <store>/.tmp-...}, and {@code ../../sentinel} from there is the
   * sentinel beside the store.
   */
  private static byte[] escapingChain() {
    return new Tarball().symlink("l1", ".").symlink("l1/l1/l1/up", "../../sentinel")
        .file("up/ESCAPED.txt", "pwned").gz();
  }

  private void assertNothingLeft(HostModuleStore store, ModuleRef m, Path sentinel) throws IOException {
    assertThat(store.present(m)).isFalse();
    try (var s = Files.list(store.root())) {
      assertThat(s.toList()).as("no staging directory or blob left").isEmpty();
    }
    try (var s = Files.list(sentinel)) {
      assertThat(s.toList()).isEmpty();
    }
  }

  @Test
  void aTamperedBlobIsRefusedBeforeItIsParsed() throws Exception {
    Path sentinel = Files.createDirectories(temp.resolve("sentinel"));
    ArtifactStore base = ArtifactStore.inMemory();
    ModuleRef m = ModuleRef.parse("victim@1.0.0");
    byte[] genuine = Files.readAllBytes(tarball(m, null));
    Artifact a = base.put(new java.io.ByteArrayInputStream(genuine), 1 << 30);
    ModuleRecord record = new ModuleRecord(m, ModuleState.READY, "", a, Instant.now());
    AtomicInteger opens = new AtomicInteger();

    // same size, one byte changed
    byte[] flipped = genuine.clone();
    flipped[flipped.length / 2] ^= 1;
    HostModuleStore store = new HostModuleStore(temp.resolve("store"), tampered(base, a.digest(), flipped, opens));
    assertThatThrownBy(() -> store.ensure(record)).isInstanceOf(ArtifactRefusedException.class)
        .hasMessageContaining("victim@1.0.0").hasMessageContaining("does not match its record")
        .hasMessageContaining("sha256");
    assertNothingLeft(store, m, sentinel);

    // another archive altogether, one that would escape if it were parsed
    HostModuleStore other = new HostModuleStore(temp.resolve("store2"), tampered(base, a.digest(), escapingChain(), opens));
    assertThatThrownBy(() -> other.ensure(record)).isInstanceOf(ArtifactRefusedException.class)
        .hasMessageContaining("does not match its record").hasMessageNotContaining("tar entry");
    assertNothingLeft(other, m, sentinel);

    // a refusal is remembered: the next call does not fetch the blob again
    int before = opens.get();
    assertThatThrownBy(() -> other.ensure(record)).isInstanceOf(ArtifactRefusedException.class)
        .hasMessageContaining("refused within the last minute");
    assertThat(opens.get()).isEqualTo(before);
  }

  @Test
  void aRecordThatVouchesForAMaliciousBlobIsRefusedByTheUnpackRules() throws Exception {
    // the attacker rewrote the module's record too: the digest matches, the archive does not pass
    Path sentinel = Files.createDirectories(temp.resolve("sentinel"));
    ArtifactStore artifacts = ArtifactStore.inMemory();
    HostModuleStore store = new HostModuleStore(temp.resolve("store"), artifacts);
    ModuleRef m = ModuleRef.parse("evil@2.0.0");
    Artifact a = artifacts.put(new java.io.ByteArrayInputStream(escapingChain()), 1 << 30);
    assertThatThrownBy(() -> store.ensure(new ModuleRecord(m, ModuleState.READY, "", a, Instant.now())))
        .isInstanceOf(ArtifactRefusedException.class)
        .hasMessageContaining("evil@2.0.0").hasMessageContaining("'l1/l1/l1/up'").hasMessageContaining("symbolic link");
    assertNothingLeft(store, m, sentinel);
    assertThat(temp.resolve("sentinel/ESCAPED.txt")).doesNotExist();
  }

  @Test
  void anArtifactCannotPlantTheStoresOwnMark() throws Exception {
    ArtifactStore artifacts = ArtifactStore.inMemory();
    HostModuleStore store = new HostModuleStore(temp.resolve("store"), artifacts);
    ModuleRef m = ModuleRef.parse("marked@1.0.0");
    Artifact a = artifacts.put(new java.io.ByteArrayInputStream(
        new Tarball().file("node_modules/marked/index.js", "x").symlink(".extend-used", "node_modules").gz()), 1 << 30);
    assertThatThrownBy(() -> store.ensure(new ModuleRecord(m, ModuleState.READY, "", a, Instant.now())))
        .isInstanceOf(ArtifactRefusedException.class).hasMessageContaining(".extend-used");
    assertThat(store.present(m)).isFalse();
  }

  @Test
  void aRecordedSizeAboveTheUnpackLimitIsNotFetched() throws Exception {
    ArtifactStore artifacts = ArtifactStore.inMemory();
    ModuleRef m = ModuleRef.parse("big@1.0.0");
    ModuleRecord record = ready(artifacts, m, tarball(m, null));
    HostModuleStore store = new HostModuleStore(temp.resolve("store"), artifacts,
        new TarGz.Limits(record.artifact().size() - 1, 1000, 4096, 64, 65536));
    assertThatThrownBy(() -> store.ensure(record)).isInstanceOf(ArtifactRefusedException.class)
        .hasMessageContaining("more than the " + (record.artifact().size() - 1) + " this host unpacks");
  }

  @Test
  void anUnpackedModuleIsReadableByAllAndWritableByItsOwnerOnly() throws Exception {
    ArtifactStore artifacts = ArtifactStore.inMemory();
    HostModuleStore store = new HostModuleStore(temp.resolve("store"), artifacts);
    ModuleRef m = ModuleRef.parse("modes@1.0.0");
    Path dir = store.ensure(ready(artifacts, m, tarball(m, null)));
    try (var s = Files.walk(dir)) {
      for (Path p : (Iterable<Path>) s::iterator) {
        if (Files.isSymbolicLink(p)) {
          continue;
        }
        String mode = java.nio.file.attribute.PosixFilePermissions.toString(Files.getPosixFilePermissions(p));
        assertThat(mode).as(dir.relativize(p).toString()).isIn("rwxr-xr-x", "rw-r--r--");
      }
    }
  }

  @Test
  void linksDependenciesAsSymlinksIntoTheStoreAsTheSandboxSeesIt() throws Exception {
    HostModuleStore store = new HostModuleStore(temp.resolve("store"), ArtifactStore.inMemory());
    Path nm = Files.createDirectories(temp.resolve("code/hook/v1")).resolve("node_modules");
    store.link(nm, List.of(ModuleRef.parse("lodash@4.17.21"), ModuleRef.parse("@types/node@20.0.0")), "/extend/modules");
    assertThat(Files.readSymbolicLink(nm.resolve("lodash"))).isEqualTo(Path.of("/extend/modules",
        store.dirName(ModuleRef.parse("lodash@4.17.21")), "node_modules/lodash"));
    assertThat(Files.readSymbolicLink(nm.resolve("@types/node"))).isEqualTo(Path.of("/extend/modules",
        store.dirName(ModuleRef.parse("@types/node@20.0.0")), "node_modules/@types/node"));
  }

  /**
   * Module directories are named by a keyed hash: nothing in a name tells which module it holds,
   * and a sandbox that cannot list the store cannot probe for one by name. The key stays outside
   * the store, 0600, and the same on every start.
   */
  @Test
  void directoryNamesAreKeyedHashesWithTheKeyOutsideTheStore() throws Exception {
    HostModuleStore store = new HostModuleStore(temp.resolve("data/modules"), ArtifactStore.inMemory());
    ModuleRef m = ModuleRef.parse("@corp/secret-lib@1.0.0");
    String name = store.dirName(m);
    assertThat(name).matches("m[0-9a-f]{32}").doesNotContain("corp").doesNotContain("secret");
    assertThat(store.dirName(ModuleRef.parse("@corp/secret-lib@1.0.1"))).isNotEqualTo(name);
    Path key = temp.resolve("data/module-names.key");
    assertThat(key).isRegularFile();
    assertThat(Files.getPosixFilePermissions(key)).isEqualTo(java.nio.file.attribute.PosixFilePermissions.fromString("rw-------"));
    assertThat(new HostModuleStore(temp.resolve("data/modules"), ArtifactStore.inMemory()).dirName(m)).isEqualTo(name);
    assertThat(new HostModuleStore(temp.resolve("other/modules"), ArtifactStore.inMemory()).dirName(m)).isNotEqualTo(name);
  }

  @Test
  void collectsLeastRecentlyUsedModulesNoSandboxLinks() throws Exception {
    ArtifactStore artifacts = ArtifactStore.inMemory();
    HostModuleStore store = new HostModuleStore(temp.resolve("store"), artifacts);
    List<ModuleRef> mods = new ArrayList<>();
    for (int i = 0; i < 5; i++) {
      ModuleRef m = ModuleRef.parse("m" + i + "@1.0.0");
      store.ensure(ready(artifacts, m, tarball(m, null)));
      // m0 used longest ago ... m4 most recently, all more than a minute ago
      Files.setLastModifiedTime(store.dir(m).resolve(".extend-used"),
          FileTime.from(Instant.now().minusSeconds(3600 - i * 60L)));
      mods.add(m);
    }
    List<String> removed = store.collect(Set.of("m0@1.0.0"), 2);
    // m0 is in use: kept although oldest; m1, m2, m3 go; m4 stays within the budget with m0
    assertThat(removed).containsExactly(store.dirName(mods.get(1)), store.dirName(mods.get(2)),
        store.dirName(mods.get(3)));
    assertThat(store.present(mods.get(0))).isTrue();
    assertThat(store.present(mods.get(4))).isTrue();
    assertThat(store.present(mods.get(1))).isFalse();
  }
}
