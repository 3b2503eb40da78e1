package dev.extend.modulebuild;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.extend.ModuleRef;
import dev.extend.containerd.ContainerdRuntime;
import dev.extend.spi.ModuleBuilder.ModuleBuildException;
import dev.extend.testing.ContainerdFixture;
import dev.extend.testing.LocalNpmRegistry;
import dev.extend.testing.NpmFixtures;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Hostile packages built for real in containerd build jobs (private daemon, local registry):
 * each fixture's install script performs an attack on the build host, and the test fails if
 * it works.
 */
class NpmModuleBuilderHostileContainerdTest {
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
    runtime = ContainerdRuntime.builder().socket(containerd.socket()).namespace("extend-modulebuild-test")
        .nodeId("hostile").dataDir(Files.createDirectories(Path.of("target/extend-data").toAbsolutePath()))
        .jobWorkArea(WORK_MB, WORK_INODES).build();
    runtime.recover();
    // On the host's loopback: only the host's registry proxy reaches it, the jobs cannot.
    registry = LocalNpmRegistry.withFixtures();
    registry.publish(pkg("@corp/secret-lib", "1.0.0", Map.of(), "module.exports = 'corp secret';"));
    registry.publish(pkg("@corp/app", "1.0.0", Map.of("@corp/secret-lib", "1.0.0"),
        "module.exports = require('@corp/secret-lib');"));
    registry.publish(pkg("ext-public-uses-corp", "1.0.0", Map.of("@corp/secret-lib", "1.0.0"),
        "module.exports = require('@corp/secret-lib');"));
  }

  /** A package's files: package.json (with dependencies and an optional postinstall) and index.js. */
  static Map<String, byte[]> pkg(String name, String version, Map<String, String> deps, String index) {
    return pkg(name, version, deps, index, null);
  }

  static Map<String, byte[]> pkg(String name, String version, Map<String, String> deps, String index, String install) {
    try {
      var json = new com.fasterxml.jackson.databind.ObjectMapper().createObjectNode();
      json.put("name", name).put("version", version).put("main", "index.js").put("license", "MIT");
      var d = json.putObject("dependencies");
      deps.forEach(d::put);
      Map<String, byte[]> files = new java.util.HashMap<>();
      if (install != null) {
        json.putObject("scripts").put("postinstall", "node install.js");
        files.put("install.js", install.getBytes(StandardCharsets.UTF_8));
      }
      files.put("package.json", json.toString().getBytes(StandardCharsets.UTF_8));
      files.put("index.js", index.getBytes(StandardCharsets.UTF_8));
      return files;
    } catch (RuntimeException e) {
      throw e;
    }
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

  /** A build's outcome: the failure (or null), the log and the tarball (or null). */
  record Outcome(ModuleBuildException failure, List<String> log, Path tarball, long millis) {
    String logText() {
      return String.join("\n", log);
    }
  }

  private Outcome build(NpmModuleBuilder b, ModuleRef m, Path work) throws Exception {
    Path out = tmp.resolve(m.storeKey() + ".tgz");
    List<String> log = new CopyOnWriteArrayList<>();
    long t0 = System.nanoTime();
    try {
      b.build(m, dev.extend.testing.TestRuntimes.runtime(), dev.extend.testing.TestRuntimes.distribution(), Files.createDirectories(work), out, log::add);
      return new Outcome(null, log, out, (System.nanoTime() - t0) / 1_000_000);
    } catch (ModuleBuildException e) {
      assertThat(out).doesNotExist();
      return new Outcome(e, log, null, (System.nanoTime() - t0) / 1_000_000);
    }
  }

  @Test
  void manifestLinkedToAHostSecretNeverLeaksIt() throws Exception {
    // The install script links package.json to ../../../../admin-token: from the host's view of
    // the work directory that is this file.
    String secret = "admin-" + UUID.randomUUID();
    Files.writeString(tmp.resolve("admin-token"), secret);
    Outcome o = build(builder().build(), NpmFixtures.EVIL_LINK, tmp.resolve("work"));

    assertThat(o.logText()).contains("ext-evil-link: package.json -> ../../../../admin-token").doesNotContain(secret);
    assertThat(o.failure()).as("the build fails cleanly").isNotNull();
    assertThat(o.failure().getMessage()).isEqualTo(
        "npm install ext-evil-link@1.0.0 produced no usable node_modules/ext-evil-link/package.json")
        .doesNotContain(secret);
    assertThat(Files.readString(tmp.resolve("admin-token"))).isEqualTo(secret);
  }

  @Test
  void manifestReplacedByAFifoEndsTheBuildWithinItsTimeout() throws Exception {
    Assumptions.assumeTrue(System.getProperty("os.arch").matches("amd64|x86_64"), "the fixture's program is x86-64");
    Outcome o = build(builder().timeout(Duration.ofSeconds(60)).build(), NpmFixtures.EVIL_FIFO, tmp.resolve("work"));
    // The sandbox's seccomp profile refuses mknod; where it would not, the FIFO is there.
    assertThat(o.logText()).containsAnyOf("ext-evil-fifo: package.json is a FIFO: true",
        "ext-evil-fifo: mknod refused");
    assertThat(o.failure()).isNotNull();
    assertThat(o.failure().getMessage()).contains("produced no usable node_modules/ext-evil-fifo/package.json");
    assertThat(o.millis()).isLessThan(60_000);
  }

  @Test
  void linkChainsLeavingTheTreeAreNotPacked() throws Exception {
    Outcome o = build(builder().build(), NpmFixtures.EVIL_CHAIN, tmp.resolve("work"));
    assertThat(o.failure()).as("log %s", o.log()).isNull();
    Tarball t = Tarball.read(o.tarball());
    assertThat(t.links()).containsExactlyInAnyOrder("node_modules/ext-evil-chain/ok -> index.js",
        "node_modules/ext-evil-chain/lib-ok -> lib");
    assertThat(t.names()).allMatch(n -> n.startsWith("node_modules"));
    // Neither the job's /etc/passwd nor the host's hostname came along as content.
    assertThat(t.contains("root:x:0:0")).isFalse();
    assertThat(t.contains("nobody:x:65534")).isFalse();
    String hostname = Files.readString(Path.of("/etc/hostname")).trim();
    assertThat(t.entries()).noneMatch(e -> e.type() == '0' && new String(e.content()).trim().equals(hostname));
    assertThat(o.logText()).contains("pack: left out symlink node_modules/ext-evil-chain/passwd");

    HostLayout host = new HostLayout(tmp.resolve("store"));
    host.unpack(NpmFixtures.EVIL_CHAIN, o.tarball());
    Path hook = host.webhook(tmp.resolve("hook"), "console.log(require('ext-evil-chain'));", NpmFixtures.EVIL_CHAIN);
    assertThat(host.run(hook, null).output()).isEqualTo("chain inside");
  }

  @Test
  void fillingTheWorkAreaFailsClearlyAndLeavesTheHostDiskAlone() throws Exception {
    Path work = tmp.resolve("work");
    long freeBefore = Files.getFileStore(tmp).getUsableSpace();
    Outcome o = build(builder().build(), NpmFixtures.EVIL_FILL, work);
    long freeAfter = Files.getFileStore(tmp).getUsableSpace();

    assertThat(o.logText()).contains("ext-evil-fill: ENOSPC after").contains("files");
    assertThat(o.failure()).as("log %s", o.log()).isNotNull();
    assertThat(o.failure().getMessage()).isEqualTo("ext-evil-fill@1.0.0: the build's work area is full: "
        + WORK_MB + " MiB / " + WORK_INODES + " inodes");
    // The host's disk did not take the blocks (other tests may write meanwhile: a wide margin).
    assertThat(freeBefore - freeAfter).isLessThan(WORK_MB / 2 << 20);
    assertThat(Files.readString(Path.of("/proc/self/mountinfo"))).doesNotContain(work.toString());
    try (var s = Files.list(work)) {
      assertThat(s.toList()).isEmpty();
    }
  }

  @Test
  void installScriptsReachNoNetworkWhileNpmReachesTheRegistryThroughTheProxy() throws Exception {
    InetAddress own = LocalNpmRegistry.hostAddress();
    try (TestHost testHost = TestHost.start();
        ServerSocket loopback = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        ServerSocket hostAddr = own.isLoopbackAddress() ? null : new ServerSocket(0, 50, own)) {
      // Positive controls: from the host, every target answers.
      testHost.probeFromHost();
      try (Socket c = new Socket()) {
        c.connect(loopback.getLocalSocketAddress(), 2000);
      }
      loopback.accept().close();
      if (hostAddr != null) {
        try (Socket c = new Socket()) {
          c.connect(hostAddr.getLocalSocketAddress(), 2000);
        }
        hostAddr.accept().close();
      }
      List<String> targets = new ArrayList<>(List.of(
          "['loopback', '127.0.0.1', " + loopback.getLocalPort() + "]",
          "['registry', '127.0.0.1', " + registry.url().getPort() + "]",
          "['testhost', '" + TestHost.ADDRESS + "', " + TestHost.PORT + "]",
          "['testhost-gw', '" + TestHost.HOST_SIDE + "', " + loopback.getLocalPort() + "]"));
      if (hostAddr != null) {
        targets.add("['hostaddr', '" + own.getHostAddress() + "', " + hostAddr.getLocalPort() + "]");
      }
      String script = String.join("\n",
          "const net = require('net');",
          "const targets = [" + String.join(", ", targets) + "];",
          "const probe = (t) => new Promise((done) => {",
          "  const c = net.connect({ host: t[1], port: t[2] });",
          "  const timer = setTimeout(() => { c.destroy(); done(t[0] + '=TIMEOUT'); }, 3000);",
          "  c.on('connect', () => { clearTimeout(timer); c.destroy(); done(t[0] + '=CONNECTED'); });",
          "  c.on('error', (e) => { clearTimeout(timer); done(t[0] + '=' + e.code); });",
          "});",
          "Promise.all(targets.map(probe)).then((r) => r.forEach((l) => console.log('ext-evil-net: ' + l)));");
      registry.publish(pkg("ext-evil-net", "1.0.0", Map.of("ext-leaf", "1.0.0"), "module.exports = 1;", script));

      Outcome o = build(builder().build(), new ModuleRef("ext-evil-net", "1.0.0"), tmp.resolve("work"));
      assertThat(o.failure()).as("the build reaches the registry: %s", o.log()).isNull();
      assertThat(Tarball.read(o.tarball()).names()).contains("node_modules/ext-leaf/index.js");
      List<String> probes = o.log().stream().filter(l -> l.startsWith("ext-evil-net: ")).toList();
      System.out.println("[probes] " + probes);
      assertThat(probes).hasSize(targets.size()).noneMatch(l -> l.endsWith("=CONNECTED"));
      loopback.setSoTimeout(200);
      assertThatThrownBy(loopback::accept).isInstanceOf(java.net.SocketTimeoutException.class);
      if (hostAddr != null) {
        hostAddr.setSoTimeout(200);
        assertThatThrownBy(hostAddr::accept).isInstanceOf(java.net.SocketTimeoutException.class);
      }
      assertThat(testHost.accepted()).as("only the host's own probe reached the test host").isEqualTo(1);
    }
  }

  @Test
  void registryCredentialsNeverEnterTheJob() throws Exception {
    String token = "npm-token-" + UUID.randomUUID();
    try (LocalNpmRegistry privateRegistry = LocalNpmRegistry.withFixtures()) {
      privateRegistry.requireToken(token);
      String snoop = String.join("\n",
          "const fs = require('fs'); const path = require('path');",
          "const out = ['ENV ' + JSON.stringify(process.env)];",
          "for (const f of ['/proc/self/environ', '/proc/1/environ', '/proc/1/cmdline', '/proc/self/cmdline']) {",
          "  try { out.push('FILE ' + f + ' ' + fs.readFileSync(f, 'latin1')); } catch (e) { out.push('FILE ' + f + ' ' + e.code); }",
          "}",
          "const skip = new Set(['/proc', '/sys', '/dev', path.join(__dirname, 'dump.txt')]);",
          "let files = 0;",
          "(function walk(d) {",
          "  let names; try { names = fs.readdirSync(d); } catch (e) { return; }",
          "  for (const n of names) {",
          "    const p = path.join(d, n); if (skip.has(p)) continue;",
          "    let st; try { st = fs.lstatSync(p); } catch (e) { continue; }",
          "    if (st.isDirectory()) walk(p);",
          // every readable file is searched for anything shaped like the token; the small files
          // of the job's own areas are dumped whole (the build tree's toolchain would not fit)
          "    else if (st.isFile() && st.size <= 64 << 20) {",
          "      let text; try { text = fs.readFileSync(p, 'latin1'); files++; } catch (e) { continue; }",
          "      for (const m of text.match(/npm-token-[0-9a-f]{8}-[0-9a-f-]{27}/g) || []) out.push('MATCH ' + p + ' ' + m);",
          "      if (st.size <= 262144 && (/^\\/(etc|work|tmp|root|home)\\//.test(p) || p.endsWith('/npm-cli.js'))) out.push('FILE ' + p + ' ' + text);",
          "    }",
          "  }",
          "})('/');",
          "fs.writeFileSync(path.join(__dirname, 'dump.txt'), out.join('\\n'));",
          "console.log('ext-evil-snoop: read ' + files + ' files');");
      privateRegistry.publish(pkg("ext-evil-snoop", "1.0.0", Map.of("ext-leaf", "1.0.0"), "module.exports = 1;", snoop));
      ModuleRef snooper = new ModuleRef("ext-evil-snoop", "1.0.0");
      String npmrc = "//127.0.0.1:" + privateRegistry.url().getPort() + "/:_authToken=" + token + "\n";

      // Control: without the credentials the registry refuses.
      Outcome refused = build(builder().registry(privateRegistry.url()).build(), snooper, tmp.resolve("w1"));
      assertThat(refused.failure()).isNotNull();
      assertThat(refused.logText()).contains("registry: upstream answered 401 for ext-evil-snoop");

      Outcome o = build(builder().registry(privateRegistry.url()).npmrc(npmrc).build(), snooper, tmp.resolve("w2"));
      assertThat(o.failure()).as("log %s", o.log()).isNull();
      assertThat(privateRegistry.authorizedRequests()).isGreaterThanOrEqualTo(4);
      Tarball t = Tarball.read(o.tarball());
      byte[] dump = t.entries().stream().filter(e -> e.name().equals("node_modules/ext-evil-snoop/dump.txt"))
          .findFirst().orElseThrow().content();
      String dumped = new String(dump, StandardCharsets.ISO_8859_1);
      // It did look: the environment, the job's files, npm's own files.
      assertThat(dumped).contains("\"PATH\":").contains("nobody:x:65534").contains("npm-cli.js")
          .contains("FILE /work/.extend/job.json");
      assertThat(dumped).doesNotContain(token);
      assertThat(dumped.lines()).as("nothing shaped like the token anywhere").noneMatch(l -> l.startsWith("MATCH "));
      assertThat(Integer.parseInt(o.logText().replaceAll("(?s).*ext-evil-snoop: read (\\d+) files.*", "$1")))
          .as("it searched the whole tree it sees").isGreaterThan(1000);
      assertThat(t.contains(token)).isFalse();
      assertThat(o.logText()).doesNotContain(token);
    }
  }

  @Test
  void privateScopesAreOpenOnlyToBuildsOfTheirOwnScope() throws Exception {
    NpmModuleBuilder scoped = builder().privateScopes("corp").build();
    Outcome pub = build(scoped, new ModuleRef("ext-public-uses-corp", "1.0.0"), tmp.resolve("w1"));
    assertThat(pub.failure()).as("a public module may not pull in @corp packages").isNotNull();
    assertThat(pub.logText()).contains("registry: refused @corp/secret-lib: the private scope @corp is not open"
        + " to this build");

    Outcome own = build(scoped, new ModuleRef("@corp/app", "1.0.0"), tmp.resolve("w2"));
    assertThat(own.failure()).as("log %s", own.log()).isNull();
    assertThat(Tarball.read(own.tarball()).names()).contains("node_modules/@corp/secret-lib/index.js");

    // Without the setting, @corp is just another scope.
    Outcome open = build(builder().build(), new ModuleRef("ext-public-uses-corp", "1.0.0"), tmp.resolve("w3"));
    assertThat(open.failure()).isNull();
  }

  @Test
  void aProcessLeftRunningCannotSwapFilesWhileTheTreeIsPacked() throws Exception {
    // The install script leaves a process that waits for the driver's out/ (made right before
    // packing), says so in the build log (through pid 1's stdout) and keeps replacing racy.js by
    // a link to /etc/passwd and back, so that a packer following the link packs that content.
    String install = String.join("\n",
        "const { spawn } = require('child_process'); const fs = require('fs'); const path = require('path');",
        "const f = path.join(__dirname, 'racy.js'); fs.writeFileSync(f, 'module.exports = 1;');",
        "const out = path.resolve(__dirname, '../../../out');",
        "const loop = 'const fs = require(\"fs\"); const f = ' + JSON.stringify(f) + '; const out = ' + JSON.stringify(out)",
        "  + '; const end = Date.now() + 120000; let said = false;'",
        "  + 'while (Date.now() < end) { if (!fs.existsSync(out)) continue;'",
        "  + ' if (!said) { said = true; try { fs.appendFileSync(\"/proc/1/fd/1\", \"ext-evil-racer: still running while packing\\\\n\"); } catch (e) {} }'",
        "  + ' try { fs.unlinkSync(f); } catch (e) {} try { fs.symlinkSync(\"/etc/passwd\", f); }'",
        "  + ' catch (e) {} try { fs.unlinkSync(f); } catch (e) {} try { fs.writeFileSync(f, \"x\"); } catch (e) {} }';",
        "spawn(process.execPath, ['-e', loop], { detached: true, stdio: 'ignore' }).unref();",
        "console.log('ext-evil-racer: left a process swapping racy.js');");
    registry.publish(pkg("ext-evil-racer", "1.0.0", Map.of(), "module.exports = 1;", install));
    Outcome o = build(builder().build(), new ModuleRef("ext-evil-racer", "1.0.0"), tmp.resolve("work"));
    assertThat(o.logText()).contains("ext-evil-racer: left a process swapping racy.js")
        .doesNotContain("ext-evil-racer: still running while packing");
    assertThat(o.failure()).as("log %s", o.log()).isNull();
    Tarball t = Tarball.read(o.tarball());
    assertThat(t.links()).isEmpty();
    assertThat(t.contains("root:x:0:0")).isFalse();
    assertThat(o.millis()).isLessThan(60_000);
  }

  /**
   * A test host in a network namespace of this test's own: a veth pair with 198.51.100.1/30 on
   * the host's side and 198.51.100.2/30 inside (a documentation range, not this machine's
   * network), and a TCP listener there that prints a line per connection.
   */
  static final class TestHost implements AutoCloseable {
    static final String HOST_SIDE = "198.51.100.1";
    static final String ADDRESS = "198.51.100.2";
    static final int PORT = 8080;
    private final String ns;
    private final String veth;
    private Process listener;
    private final List<String> lines = new java.util.concurrent.CopyOnWriteArrayList<>();

    private TestHost(String ns, String veth) {
      this.ns = ns;
      this.veth = veth;
    }

    static TestHost start() throws Exception {
      String id = UUID.randomUUID().toString().substring(0, 6);
      TestHost h = new TestHost("extend-t" + id, "vxe" + id);
      try {
        sh("ip", "netns", "add", h.ns);
        sh("ip", "link", "add", h.veth + "h", "type", "veth", "peer", "name", h.veth + "n");
        sh("ip", "link", "set", h.veth + "n", "netns", h.ns);
        sh("ip", "addr", "add", HOST_SIDE + "/30", "dev", h.veth + "h");
        sh("ip", "link", "set", h.veth + "h", "up");
        sh("ip", "netns", "exec", h.ns, "ip", "addr", "add", ADDRESS + "/30", "dev", h.veth + "n");
        sh("ip", "netns", "exec", h.ns, "ip", "link", "set", h.veth + "n", "up");
        sh("ip", "netns", "exec", h.ns, "ip", "link", "set", "lo", "up");
        h.listener = new ProcessBuilder("ip", "netns", "exec", h.ns, HostLayout.NODE.toString(), "-e",
            "require('net').createServer((s) => { console.log('accepted'); s.end('hi\\n'); }).listen(" + PORT + ", '"
                + ADDRESS + "', () => console.log('listening'));").redirectErrorStream(true).start();
        Thread reader = new Thread(() -> {
          try (var r = new java.io.BufferedReader(new java.io.InputStreamReader(h.listener.getInputStream()))) {
            for (String l; (l = r.readLine()) != null; ) {
              h.lines.add(l);
            }
          } catch (java.io.IOException ignored) {
            // ended
          }
        });
        reader.setDaemon(true);
        reader.start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (!h.lines.contains("listening")) {
          if (System.nanoTime() > deadline || !h.listener.isAlive()) {
            throw new IllegalStateException("the test host's listener did not start: " + h.lines);
          }
          Thread.sleep(20);
        }
        return h;
      } catch (Exception e) {
        h.close();
        throw e;
      }
    }

    /** Connects from the host and reads the greeting. */
    void probeFromHost() throws Exception {
      try (Socket c = new Socket()) {
        c.connect(new InetSocketAddress(ADDRESS, PORT), 2000);
        c.setSoTimeout(2000);
        InputStream in = c.getInputStream();
        assertThat(new String(in.readNBytes(2), StandardCharsets.US_ASCII)).isEqualTo("hi");
      }
    }

    long accepted() throws InterruptedException {
      Thread.sleep(200);
      return lines.stream().filter("accepted"::equals).count();
    }

    private static void sh(String... cmd) throws Exception {
      Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
      String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      if (!p.waitFor(20, TimeUnit.SECONDS) || p.exitValue() != 0) {
        throw new IllegalStateException(String.join(" ", cmd) + " failed: " + out);
      }
    }

    @Override
    public void close() throws Exception {
      if (listener != null) {
        listener.destroyForcibly();
        listener.waitFor(5, TimeUnit.SECONDS);
      }
      // Deleting the namespace destroys the veth pair with it.
      new ProcessBuilder("ip", "netns", "del", ns).redirectErrorStream(true).start().waitFor(20, TimeUnit.SECONDS);
      new ProcessBuilder("ip", "link", "del", veth + "h").redirectErrorStream(true).start().waitFor(20, TimeUnit.SECONDS);
    }
  }
}
