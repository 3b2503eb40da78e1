package dev.extend.internal.modules;

import dev.extend.internal.FileTrees;
import dev.extend.ModuleRef;
import dev.extend.ModuleState;
import dev.extend.UnavailableException;
import dev.extend.spi.ArtifactStore;
import dev.extend.spi.ModuleRecord;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.FileTime;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * This host's read-only module store: {@code <root>/<name>@<version>/node_modules/...}, each
 * module unpacked once from its artifact (to a temporary directory, then renamed into place,
 * so concurrent needs cause one unpack), and the synthetic {@code node_modules} directories of
 * symlinks that sandboxes resolve through.
 */
public final class HostModuleStore {
  private static final Logger LOG = LoggerFactory.getLogger(HostModuleStore.class);
  private static final String USED_MARK = ".extend-used";

  private final Path root;
  private final ArtifactStore artifacts;
  private final Map<ModuleRef, CompletableFuture<Path>> unpacking = new ConcurrentHashMap<>();

  /** A store rooted at {@code root}, filled from {@code artifacts}. */
  public HostModuleStore(Path root, ArtifactStore artifacts) throws IOException {
    this.root = Files.createDirectories(root);
    this.artifacts = artifacts;
    try (Stream<Path> s = Files.list(root)) {
      s.filter(p -> p.getFileName().toString().startsWith(".tmp-")).forEach(FileTrees::deleteTree);
    }
  }

  /** The store's root directory. */
  public Path root() {
    return root;
  }

  /** Whether a module is unpacked on this host. */
  public boolean present(ModuleRef module) {
    return Files.isDirectory(root.resolve(module.storeKey()));
  }

  /**
   * Makes sure a READY module is unpacked here, unpacking it once if needed.
   *
   * @return its directory
   */
  public Path ensure(ModuleRecord record) throws IOException {
    ModuleRef m = record.module();
    Path dir = root.resolve(m.storeKey());
    if (Files.isDirectory(dir)) {
      return dir;
    }
    if (record.state() != ModuleState.READY || record.artifact() == null) {
      throw new IllegalStateException("module " + m + " is not ready");
    }
    CompletableFuture<Path> mine = new CompletableFuture<>();
    CompletableFuture<Path> f = unpacking.putIfAbsent(m, mine);
    if (f == null) {
      try {
        mine.complete(unpack(record, dir));
      } catch (IOException | RuntimeException e) {
        mine.completeExceptionally(e);
      } finally {
        unpacking.remove(m, mine);
      }
      f = mine;
    }
    try {
      return f.join();
    } catch (java.util.concurrent.CompletionException e) {
      if (e.getCause() instanceof IOException io) {
        throw io;
      }
      throw e;
    }
  }

  private Path unpack(ModuleRecord record, Path dir) throws IOException {
    if (Files.isDirectory(dir)) {
      return dir;
    }
    long t0 = System.nanoTime();
    Path tmp = root.resolve(".tmp-" + record.module().storeKey() + "-" + UUID.randomUUID());
    Files.createDirectories(tmp);
    try {
      InputStream raw = artifacts.open(record.artifact().digest())
          .orElseThrow(() -> new UnavailableException("artifact " + record.artifact().digest() + " of module "
              + record.module() + " is missing from the artifact store"));
      MessageDigest sha = sha256();
      try (InputStream in = new DigestInputStream(raw, sha)) {
        TarGz.unpack(in, tmp);
        in.transferTo(java.io.OutputStream.nullOutputStream());
      }
      String digest = HexFormat.of().formatHex(sha.digest());
      if (!digest.equals(record.artifact().digest())) {
        throw new IOException("artifact of module " + record.module() + " is corrupt: sha256 " + digest
            + " != " + record.artifact().digest());
      }
      Files.createFile(tmp.resolve(USED_MARK));
      try {
        Files.move(tmp, dir, StandardCopyOption.ATOMIC_MOVE);
      } catch (FileAlreadyExistsException | java.nio.file.DirectoryNotEmptyException e) {
        FileTrees.deleteTree(tmp); // another process unpacked it first
      } catch (AtomicMoveNotSupportedException e) {
        throw new IOException("module store " + root + " must be on one file system", e);
      }
      LOG.info("unpacked module {} ({} bytes) in {} ms", record.module(), record.artifact().size(),
          (System.nanoTime() - t0) / 1_000_000);
      return dir;
    } catch (IOException | RuntimeException e) {
      FileTrees.deleteTree(tmp);
      throw e;
    }
  }

  /**
   * Writes {@code nodeModules} as a directory of symlinks, one per dependency, pointing into
   * the store as the sandbox sees it ({@code storePathInside}). Replaces what was there.
   */
  public void link(Path nodeModules, Collection<ModuleRef> deps, String storePathInside) throws IOException {
    Path parent = nodeModules.getParent();
    Path tmp = parent.resolve(".nm-" + UUID.randomUUID());
    Files.createDirectories(tmp);
    FileTime now = FileTime.from(Instant.now());
    for (ModuleRef m : deps) {
      Path link = tmp.resolve(m.name()); // "@scope/pkg" lands in a scope directory
      Files.createDirectories(link.getParent());
      Files.createSymbolicLink(link, Path.of(storePathInside, m.storeKey(), "node_modules", m.name()));
      try {
        Files.setLastModifiedTime(root.resolve(m.storeKey()).resolve(USED_MARK), now);
      } catch (IOException e) {
        // only an LRU hint
      }
    }
    if (Files.exists(nodeModules)) {
      Path old = parent.resolve(".nm-old-" + UUID.randomUUID());
      Files.move(nodeModules, old, StandardCopyOption.ATOMIC_MOVE);
      FileTrees.deleteTree(old);
    }
    Files.move(tmp, nodeModules, StandardCopyOption.ATOMIC_MOVE);
  }

  /**
   * Removes least-recently-used modules not in {@code inUse} until at most {@code keep} remain.
   *
   * @return the modules removed (store keys)
   */
  public List<String> collect(Set<String> inUse, int keep) throws IOException {
    List<Path> dirs = new ArrayList<>();
    try (Stream<Path> s = Files.list(root)) {
      s.filter(p -> !p.getFileName().toString().startsWith(".") && Files.isDirectory(p)).forEach(dirs::add);
    }
    if (dirs.size() <= keep) {
      return List.of();
    }
    dirs.sort(Comparator.comparing(HostModuleStore::lastUsed));
    List<String> removed = new ArrayList<>();
    int excess = dirs.size() - keep;
    for (Path d : dirs) {
      if (removed.size() >= excess) {
        break;
      }
      String key = d.getFileName().toString();
      // a module linked in the last minute may be on its way into a sandbox
      if (inUse.contains(key) || lastUsed(d).toMillis() > System.currentTimeMillis() - 60_000) {
        continue;
      }
      Path trash = root.resolve(".tmp-gc-" + UUID.randomUUID());
      Files.move(d, trash, StandardCopyOption.ATOMIC_MOVE);
      FileTrees.deleteTree(trash);
      removed.add(key);
    }
    return removed;
  }

  private static FileTime lastUsed(Path dir) {
    try {
      return Files.getLastModifiedTime(dir.resolve(USED_MARK));
    } catch (IOException e) {
      return FileTime.fromMillis(0);
    }
  }

  private static MessageDigest sha256() {
    try {
      return MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

}
