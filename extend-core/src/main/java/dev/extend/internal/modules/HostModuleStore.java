package dev.extend.internal.modules;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import dev.extend.internal.FileTrees;
import dev.extend.ModuleRef;
import dev.extend.ModuleState;
import dev.extend.UnavailableException;
import dev.extend.spi.Artifact;
import dev.extend.spi.ArtifactStore;
import dev.extend.spi.ModuleRecord;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.SeekableByteChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributeView;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
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
 * This host's read-only module store: {@code <root>/<dir>/node_modules/...}, each module
 * unpacked once from its artifact, and the synthetic {@code node_modules} directories of
 * symlinks that sandboxes resolve through.
 *
 * <p>A module's directory is named by a keyed hash of {@code name@version} (the key lives
 * beside the store, 0600, never inside it): the store's root is traversable but not listable
 * by sandboxes, so a sandbox reaches exactly the modules whose names it finds in its own code
 * directory's links, and cannot probe for what other tenants use (or read a private scope's
 * module by guessing its name).
 *
 * <p>An artifact is hostile until checked: it is copied to a private file and its size and
 * sha256 compared with those recorded when the module was built, before a byte is parsed;
 * then {@link TarGz} unpacks that copy into a fresh 0700 directory beside the module's (see its
 * rules), which is renamed into place only when everything succeeded, so concurrent needs cause
 * one unpack and a failure leaves nothing behind. A refusal ({@link ArtifactRefusedException})
 * is logged and remembered for a minute, so a bad artifact is not fetched for every call.
 */
public final class HostModuleStore {
  private static final Logger LOG = LoggerFactory.getLogger(HostModuleStore.class);
  private static final String USED_MARK = ".extend-used";

  private final Path root;
  private final byte[] nameKey;
  private final Map<String, String> dirNames = new ConcurrentHashMap<>();
  private final ArtifactStore artifacts;
  private final TarGz.Limits limits;
  private final Map<ModuleRef, CompletableFuture<Path>> unpacking = new ConcurrentHashMap<>();
  /** Digests refused lately: a bad artifact is not fetched again for every invocation. */
  private final Cache<String, String> refused =
      Caffeine.newBuilder().expireAfterWrite(Duration.ofMinutes(1)).maximumSize(1024).build();

  /** A store rooted at {@code root}, filled from {@code artifacts}, within {@link TarGz.Limits#DEFAULT}. */
  public HostModuleStore(Path root, ArtifactStore artifacts) throws IOException {
    this(root, artifacts, TarGz.Limits.DEFAULT);
  }

  /** A store rooted at {@code root}, filled from {@code artifacts}, unpacking within {@code limits}. */
  public HostModuleStore(Path root, ArtifactStore artifacts, TarGz.Limits limits) throws IOException {
    this.root = Files.createDirectories(root);
    this.nameKey = nameKey(this.root.toAbsolutePath().getParent().resolve("module-names.key"));
    this.artifacts = artifacts;
    this.limits = limits;
    try (Stream<Path> s = Files.list(root)) {
      s.filter(p -> p.getFileName().toString().startsWith(".tmp-")).forEach(FileTrees::deleteTree);
    }
  }

  /** The key naming module directories: created once (0600), shared by nodes that share the data dir. */
  private static byte[] nameKey(Path file) throws IOException {
    if (!Files.exists(file, LinkOption.NOFOLLOW_LINKS)) {
      byte[] key = new byte[32];
      new java.security.SecureRandom().nextBytes(key);
      Path tmp = file.resolveSibling(file.getFileName() + ".tmp-" + UUID.randomUUID());
      Files.write(tmp, HexFormat.of().formatHex(key).getBytes(java.nio.charset.StandardCharsets.US_ASCII),
          StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
      Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rw-------"));
      try {
        Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE);
      } catch (FileAlreadyExistsException raced) {
        Files.deleteIfExists(tmp);
      } catch (IOException e) {
        Files.deleteIfExists(tmp);
        if (!Files.exists(file, LinkOption.NOFOLLOW_LINKS)) {
          throw e;
        }
      }
    }
    if (!Files.isRegularFile(file, LinkOption.NOFOLLOW_LINKS) || Files.size(file) > 1024) {
      throw new IOException("the module store's name key is not a small regular file: " + file);
    }
    String hex = Files.readString(file, java.nio.charset.StandardCharsets.US_ASCII).strip();
    try {
      byte[] key = HexFormat.of().parseHex(hex);
      if (key.length < 16) {
        throw new IOException("the module store's name key is too short: " + file);
      }
      return key;
    } catch (IllegalArgumentException e) {
      throw new IOException("the module store's name key is not hex: " + file);
    }
  }

  /** The directory name of a module in this store: a keyed hash of its {@code name@version}. */
  public String dirName(ModuleRef module) {
    return dirName(module.storeKey());
  }

  private String dirName(String storeKey) {
    return dirNames.computeIfAbsent(storeKey, k -> {
      try {
        javax.crypto.Mac mac = javax.crypto.Mac.getInstance("HmacSHA256");
        mac.init(new javax.crypto.spec.SecretKeySpec(nameKey, "HmacSHA256"));
        byte[] h = mac.doFinal(k.getBytes(java.nio.charset.StandardCharsets.UTF_8));
        return "m" + HexFormat.of().formatHex(h, 0, 16);
      } catch (java.security.GeneralSecurityException e) {
        throw new IllegalStateException(e);
      }
    });
  }

  /** The host directory of a module (whether or not it is unpacked here). */
  public Path dir(ModuleRef module) {
    return root.resolve(dirName(module));
  }

  /** The store's root directory. */
  public Path root() {
    return root;
  }

  /** Whether a module is unpacked on this host. */
  public boolean present(ModuleRef module) {
    return Files.isDirectory(dir(module));
  }

  /**
   * Makes sure a READY module is unpacked here, unpacking it once if needed.
   *
   * @return its directory
   * @throws ArtifactRefusedException when its artifact fails verification or breaks a rule of
   *     {@link TarGz}
   * @throws IOException when this host's file system fails
   */
  public Path ensure(ModuleRecord record) throws IOException {
    ModuleRef m = record.module();
    Path dir = dir(m);
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
    ModuleRef m = record.module();
    Artifact artifact = record.artifact();
    String earlier = refused.getIfPresent(artifact.digest());
    if (earlier != null) {
      throw new ArtifactRefusedException(earlier + " (refused within the last minute; not fetched again yet)");
    }
    long t0 = System.nanoTime();
    String base = ".tmp-" + dirName(m) + "-" + UUID.randomUUID();
    Path blob = root.resolve(base + ".tgz");
    Path tmp = root.resolve(base);
    boolean placed = false;
    try {
      fetchVerified(m, artifact, blob);
      // Only this process can reach the tree while it is unpacked (TarGz relies on it).
      Files.createDirectory(tmp, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
      try (InputStream in = Files.newInputStream(blob, LinkOption.NOFOLLOW_LINKS)) {
        TarGz.unpack(in, tmp, limits);
      } catch (ArtifactRefusedException e) {
        throw new ArtifactRefusedException("artifact " + artifact.digest() + " of module " + m + " was refused: "
            + e.getMessage(), e);
      }
      try {
        Files.newByteChannel(tmp.resolve(USED_MARK), Set.of(StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE,
            LinkOption.NOFOLLOW_LINKS)).close();
      } catch (FileAlreadyExistsException e) {
        throw new ArtifactRefusedException("artifact " + artifact.digest() + " of module " + m
            + " was refused: it has an entry named " + USED_MARK + ", which the module store keeps for itself");
      }
      Files.getFileAttributeView(tmp, PosixFileAttributeView.class, LinkOption.NOFOLLOW_LINKS)
          .setPermissions(PosixFilePermissions.fromString("rwxr-xr-x"));
      try {
        Files.move(tmp, dir, StandardCopyOption.ATOMIC_MOVE);
        placed = true;
      } catch (FileAlreadyExistsException | java.nio.file.DirectoryNotEmptyException e) {
        // another process unpacked it first
      } catch (AtomicMoveNotSupportedException e) {
        throw new IOException("module store " + root + " must be on one file system", e);
      }
      LOG.info("unpacked module {} ({} bytes, sha256 verified) in {} ms", m, artifact.size(),
          (System.nanoTime() - t0) / 1_000_000);
      return dir;
    } catch (ArtifactRefusedException e) {
      refused.put(artifact.digest(), e.getMessage());
      LOG.error("{}", e.getMessage()); // names the module and digest
      throw e;
    } finally {
      if (!placed) {
        FileTrees.deleteTree(tmp);
      }
      FileTrees.deleteTree(blob);
    }
  }

  /**
   * Copies the artifact to {@code blob} (a new file only this process can read) and checks it
   * against the size and sha256 recorded when the module was built, before a byte of it is
   * parsed; what is unpacked is this local copy, which nothing else can change meanwhile.
   */
  private void fetchVerified(ModuleRef m, Artifact artifact, Path blob) throws IOException {
    if (artifact.size() > limits.maxBytes()) {
      throw new ArtifactRefusedException("artifact " + artifact.digest() + " of module " + m + " is recorded as "
          + artifact.size() + " bytes, more than the " + limits.maxBytes() + " this host unpacks");
    }
    MessageDigest sha = sha256();
    long size = 0;
    try (InputStream raw = artifacts.open(artifact.digest())
        .orElseThrow(() -> new UnavailableException("artifact " + artifact.digest() + " of module " + m
            + " is missing from the artifact store"));
        SeekableByteChannel out = Files.newByteChannel(blob, Set.of(StandardOpenOption.CREATE_NEW,
            StandardOpenOption.WRITE, LinkOption.NOFOLLOW_LINKS),
            PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")))) {
      byte[] buf = new byte[64 * 1024];
      for (int n; (n = raw.read(buf)) >= 0; ) {
        size += n;
        if (size > artifact.size()) {
          break;
        }
        sha.update(buf, 0, n);
        ByteBuffer b = ByteBuffer.wrap(buf, 0, n);
        while (b.hasRemaining()) {
          out.write(b);
        }
      }
    }
    if (size != artifact.size()) {
      throw new ArtifactRefusedException("artifact " + artifact.digest() + " of module " + m + " does not match"
          + " its record: " + (size > artifact.size() ? "more than" : "only " + size + " of") + " the "
          + artifact.size() + " bytes recorded were fetched");
    }
    String digest = HexFormat.of().formatHex(sha.digest());
    if (!digest.equals(artifact.digest())) {
      throw new ArtifactRefusedException("artifact " + artifact.digest() + " of module " + m + " does not match"
          + " its record: the bytes fetched have sha256 " + digest);
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
      Files.createSymbolicLink(link, Path.of(storePathInside, dirName(m), "node_modules", m.name()));
      try {
        Files.getFileAttributeView(dir(m).resolve(USED_MARK), BasicFileAttributeView.class,
            LinkOption.NOFOLLOW_LINKS).setTimes(now, null, null);
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
   * @param inUse store keys ({@code name@version}) of the modules that must stay
   * @return the directories removed
   */
  public List<String> collect(Set<String> inUse, int keep) throws IOException {
    Set<String> keepDirs = new java.util.HashSet<>();
    for (String key : inUse) {
      keepDirs.add(dirName(key));
    }
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
      if (keepDirs.contains(key) || lastUsed(d).toMillis() > System.currentTimeMillis() - 60_000) {
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
      return Files.getLastModifiedTime(dir.resolve(USED_MARK), LinkOption.NOFOLLOW_LINKS);
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
