package dev.extend.containerd;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.extend.InvocationRequest;
import dev.extend.InvocationResponse;
import dev.extend.Limits;
import dev.extend.ServerlessPlatform;
import dev.extend.WebhookRef;
import dev.extend.WebhookSpec;
import dev.extend.spi.JobRunner;
import dev.extend.testing.ContainerdFixture;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Disabled;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A second review of the sandbox-host boundary on real containerd: attacks that go around the
 * hardening already in place (sealed socket directory, capped heads, attribution checks). Each
 * test performs the attack for real and fails if it works; a neighbour container checks that
 * the node keeps serving others.
 */
class RedTeamContainerdTest {
  static final ObjectMapper JSON = new ObjectMapper();
  static final int IN_FLIGHT = 4;
  @TempDir static Path data;
  @TempDir static Path scratch;
  static ContainerdPlatform it;
  static ContainerdFixture containerd;
  static ContainerdRuntime runtime;
  static ServerlessPlatform platform;

  @BeforeAll
  static void start() throws Exception {
    it = ContainerdPlatform.start("redteam", data, r -> r, p -> p
        .defaultLimits(new Limits(Duration.ofSeconds(20), 128))
        .maxInFlightPerContainer(IN_FLIGHT)
        .maxSandboxes(10));
    containerd = it.containerd;
    runtime = it.runtime;
    platform = it.platform;
  }

  @AfterAll
  static void stop() throws Exception {
    if (it != null) {
      it.close();
    }
  }

  static InvocationResponse invoke(WebhookRef ref, String query) throws Exception {
    return it.invoke(ref, query);
  }

  static String call(WebhookRef ref, String query) throws Exception {
    return it.call(ref, query);
  }

  static WebhookRef put(String container, String name, String code) {
    WebhookRef ref = WebhookRef.of(container, name);
    platform.put(ref, WebhookSpec.builder(code).build());
    return ref;
  }

  static WebhookRef neighbour() throws Exception {
    WebhookRef n = put("neighbour", "answers", "module.exports = async () => 'neighbour'");
    assertThat(call(n, "")).isEqualTo("neighbour");
    return n;
  }

  /**
   * Tenant code that takes over its agent's HTTP server (it runs in the same process) and
   * answers the host's control calls for {@code victim} with the given handler body; every
   * other request goes to the agent as before. {@code stats} is reported by the webhook itself.
   */
  static String hijack(String handler) {
    return String.join("\n",
        "const stats = { sent: 0, done: false, closed: false };",
        "module.exports = function (ctx, req, res) {",
        "  const srv = req.socket.server;",
        "  if (!srv.__hijacked) {",
        "    srv.__hijacked = true;",
        "    const orig = srv.listeners('request');",
        "    srv.removeAllListeners('request');",
        "    srv.on('request', (q, s) => {",
        "      if (q.url.startsWith('/_extend/webhooks/victim')) { q.resume(); (" + handler + ")(q, s, stats); return; }",
        "      for (const l of orig) l.call(srv, q, s);",
        "    });",
        "  }",
        "  res.writeHead(200, { 'content-type': 'application/json' });",
        "  res.end(JSON.stringify(stats));",
        "};");
  }

  /** Writes {@code mib} MiB to {@code s} with back-pressure, counting what the host accepted. */
  static final String PUMP = String.join("\n",
      "(q, s, stats, mib) => {",
      "  const chunk = Buffer.alloc(1 << 20, 0x20);",
      "  let n = 0;",
      "  s.on('close', () => { stats.closed = true; });",
      "  s.on('error', () => {});",
      "  const pump = () => {",
      "    while (n < mib) { n++; stats.sent += chunk.length; if (!s.write(chunk)) { s.once('drain', pump); return; } }",
      "    s.end(); stats.done = true;",
      "  };",
      "  pump();",
      "}");

  // ---- 1. the host's control calls read the sandbox's answer without bound ------------------

  /**
   * The tenant answers the host's load command for another of its webhooks with 200 and a
   * 64 MiB body. The host must stop reading the answer of a control call at a small cap;
   * reading it whole lets a tenant fill the JVM heap (a stream of a few GiB within the 30 s
   * load timeout ends the node for every tenant).
   */
  @Test
  void aLoadAnswerCannotMakeTheHostBufferWithoutBound() throws Exception {
    WebhookRef n = neighbour();
    WebhookRef attacker = put("loadflood", "hijack", hijack(
        "(q, s, stats) => { s.writeHead(200, { 'content-type': 'application/json' }); (" + PUMP + ")(q, s, stats, 64); }"));
    assertThat(JSON.readTree(call(attacker, "")).get("sent").asLong()).isZero();
    WebhookRef victim = put("loadflood", "victim", "module.exports = async () => 'victim'");
    try (InvocationResponse r = invoke(victim, "")) {
      r.bodyText();
    } catch (Exception expected) {
      // the agent never loaded it: the host's run call finds nothing
    }
    Thread.sleep(500);
    JsonNode stats = JSON.readTree(call(attacker, ""));
    assertThat(stats.get("sent").asLong()).as("bytes of one load answer the host took in: %s", stats)
        .isLessThan(8L << 20);
    assertThat(call(n, "")).isEqualTo("neighbour");
  }

  /** The same for an invocation's error answer ({@code x-extend-error}): the host reads at most 64 KiB of it. */
  @Test
  void anErrorAnswerIsReadOnlyUpToItsCap() throws Exception {
    WebhookRef n = neighbour();
    WebhookRef attacker = put("errflood", "big-error", String.join("\n",
        "const stats = { sent: 0, done: false, closed: false };",
        "module.exports = function (ctx, req, res) {",
        "  if (ctx.query.report) { res.end(JSON.stringify(stats)); return; }",
        "  res.writeHead(502, { 'content-type': 'application/json', 'x-extend-error': 'function_error' });",
        "  (" + PUMP + ")(req, res, stats, 64);",
        "};"));
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> call(attacker, ""))
        .isInstanceOf(dev.extend.FunctionErrorException.class);
    Thread.sleep(500);
    JsonNode stats = JSON.readTree(call(attacker, "report=1"));
    assertThat(stats.get("sent").asLong()).as("%s", stats).isLessThan(8L << 20);
    assertThat(call(n, "")).isEqualTo("neighbour");
  }

  // ---- 2. answers that stream are not counted against the in-flight limit --------------------

  /**
   * maxInFlightPerContainer bounds what one container holds of the node (connections, threads,
   * buffers). An answer that sends its head at once and then keeps its body open until the
   * timeout is counted out when the head arrives, so one container holds any number of them.
   */
  @Test
  void answersWhoseBodyStaysOpenCountAgainstTheInFlightLimit() throws Exception {
    WebhookRef n = neighbour();
    WebhookRef slow = put("streamer", "drip", String.join("\n",
        "module.exports = function (ctx, req, res) {",
        "  res.writeHead(200, { 'content-type': 'text/plain' });",
        "  res.write('first byte\\n');",
        "  setTimeout(() => res.end('last\\n'), 15000);",
        "};"));
    List<InvocationResponse> open = new ArrayList<>();
    int refused = 0;
    try {
      for (int i = 0; i < 4 * IN_FLIGHT; i++) {
        try {
          open.add(invoke(slow, "i=" + i));
        } catch (dev.extend.TooManyRequestsException e) {
          refused++;
        }
      }
      assertThat(open.size()).as("answers held open at once by one container (refused: %d)", refused)
          .isLessThanOrEqualTo(IN_FLIGHT);
    } finally {
      open.forEach(InvocationResponse::close);
    }
    assertThat(call(n, "")).isEqualTo("neighbour");
  }

  // ---- 3. framing headers the host passes on -------------------------------------------------

  /**
   * An answer with both Content-Length and chunked framing (or two Content-Lengths that
   * disagree) is read one way by the host and handed on with a length that says another: a
   * caller or proxy that trusts the header is desynchronised. The host must refuse such an
   * answer or drop the length it did not use.
   */
  @Test
  void aLengthTheHostDidNotUseIsNotHandedOn() throws Exception {
    WebhookRef n = neighbour();
    WebhookRef raw = put("framing", "raw", String.join("\n",
        "module.exports = function (ctx, req, res) {",
        "  const s = req.socket;",
        "  if (ctx.query.mode === 'both') {",
        "    s.write('HTTP/1.1 200 OK\\r\\nContent-Length: 3\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\na\\r\\n0123456789\\r\\n0\\r\\n\\r\\n');",
        "    return;",
        "  }",
        "  if (ctx.query.mode === 'two') {",
        "    s.write('HTTP/1.1 200 OK\\r\\nContent-Length: 3\\r\\nContent-Length: 10\\r\\n\\r\\n0123456789');",
        "    return;",
        "  }",
        "  res.end('fine');",
        "};"));
    assertThat(call(raw, "")).isEqualTo("fine");
    for (String mode : List.of("both", "two")) {
      try (InvocationResponse r = invoke(raw, "mode=" + mode)) {
        byte[] body = r.body().readAllBytes();
        List<String> lengths = r.headers().all("content-length");
        assertThat(lengths).as("mode %s: Content-Length handed on with a body of %d bytes", mode, body.length)
            .allMatch(v -> v.equals(Integer.toString(body.length)));
        assertThat(lengths).as("mode %s", mode).hasSizeLessThanOrEqualTo(1);
      } catch (dev.extend.FunctionErrorException refused) {
        // refused as a bad answer: fine
      }
    }
    assertThat(call(n, "")).isEqualTo("neighbour");
  }

  // ---- 4. what a sandbox learns about the host -----------------------------------------------

  /** The mount table inside names the host's paths of the data directory and root filesystem. */
  @Test
  @Disabled("attack works: /proc/self/mountinfo shows the host paths of the data dir, agent dir and rootfs")
  void theMountTableNamesNoHostPath() throws Exception {
    WebhookRef spy = put("mountspy", "mounts",
        "module.exports = async () => require('fs').readFileSync('/proc/self/mountinfo', 'utf8');");
    String mountinfo = call(spy, "");
    assertThat(mountinfo).doesNotContain(data.toAbsolutePath().toString())
        .doesNotContain(TestData.dataDir().toString());
  }

  /**
   * The host's kernel command line and boot id are masked: a sandbox reads them empty. (The
   * mount table above still names host paths: the test stays disabled for that part.)
   */
  @Test
  void theKernelCommandLineAndBootIdOfTheHostAreMasked() throws Exception {
    WebhookRef spy = put("bootspy", "boot", String.join("\n",
        "const fs = require('fs');",
        "const read = (p) => { try { return fs.readFileSync(p, 'utf8'); } catch (e) { return e.code; } };",
        "module.exports = async () => ({ cmdline: read('/proc/cmdline'),",
        "  bootId: read('/proc/sys/kernel/random/boot_id') });"));
    JsonNode r = JSON.readTree(call(spy, ""));
    assertThat(r.get("cmdline").asText()).isEmpty();
    assertThat(r.get("bootId").asText()).isEmpty();
    assertThat(Files.readString(Path.of("/proc/cmdline"))).isNotEmpty();
  }

  // ---- 5. processes that try to outlive their sandbox -----------------------------------------

  /**
   * The tenant starts a detached child in its own session, then its agent exits: nothing of it
   * may keep running on the host once the sandbox was released.
   */
  @Test
  void aDetachedChildDoesNotOutliveItsSandbox() throws Exception {
    String marker = "rt-survivor-" + Long.toHexString(System.nanoTime());
    WebhookRef quitter = put("survivor", "spawn", String.join("\n",
        "const cp = require('child_process');",
        "module.exports = async (ctx) => {",
        "  const c = cp.spawn('/usr/bin/node', ['-e', 'process.on(\"SIGTERM\", () => {}); setInterval(() => {}, 1000)', '"
            + marker + "'],",
        "    { detached: true, stdio: 'ignore' });",
        "  c.unref();",
        "  if (ctx.query.exit) setTimeout(() => process.exit(0), 200);",
        "  return { child: c.pid };",
        "};"));
    call(quitter, "");
    assertThat(hostProcessesWith(marker)).as("the child runs while its sandbox does").isPositive();
    call(quitter, "exit=1");
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
    while (System.nanoTime() < deadline && hostProcessesWith(marker) > 0) {
      Thread.sleep(100);
    }
    assertThat(hostProcessesWith(marker)).as("children left on the host after the agent exited").isZero();
  }

  static long hostProcessesWith(String marker) {
    try (Stream<ProcessHandle> all = ProcessHandle.allProcesses()) {
      return all.filter(h -> h.info().commandLine().orElse("").contains(marker)).count();
    }
  }

  // ---- 6. kernel limits counted per user of the host ---------------------------------------------

  /**
   * inotify instances are limited per user of the host (fs.inotify.max_user_instances, 128 by
   * default): if every sandbox ran as the same uid, one tenant that takes them all would leave
   * every other container without fs.watch. Each sandbox has a uid of its own.
   */
  @Test
  void oneTenantCannotTakeThePerUserInotifyInstancesOfAllSandboxes() throws Exception {
    String bin = compile("inotify-hog", String.join("\n",
        "#include <stdio.h>",
        "#include <unistd.h>",
        "#include <sys/inotify.h>",
        "int main(void) {",
        "  int n = 0; while (inotify_init1(0) >= 0) n++;",
        "  printf(\"%d\\n\", n); fflush(stdout);",
        "  sleep(30); return 0;",
        "}", ""));
    WebhookRef watcher = put("watcher", "watch", String.join("\n",
        "module.exports = async () => { try { const w = require('fs').watch('/tmp', () => {}); w.close(); return 'OK'; }",
        "  catch (e) { return e.code || String(e); } };"));
    WebhookRef hog = put("hog", "take-all", String.join("\n",
        "const cp = require('child_process');",
        "let child;",
        "module.exports = async (ctx) => {",
        "  if (ctx.query.stop) { if (child) child.kill('SIGKILL'); return 'stopped'; }",
        "  child = cp.spawn('" + bin + "', [], { stdio: ['ignore', 'pipe', 'ignore'] });",
        "  return await new Promise((resolve) => child.stdout.once('data', (d) => resolve(d.toString().trim())));",
        "};"));
    try {
      String taken = call(hog, "");
      assertThat(call(watcher, "")).as("fs.watch in another container while the hog holds %s instances", taken)
          .isEqualTo("OK");
    } finally {
      call(hog, "stop=1");
    }
  }

  /**
   * Each sandbox runs as a uid of its own from the runtime's range, named in an {@code
   * /etc/passwd} of its own that it cannot change: {@code os.userInfo()} works.
   */
  @Test
  void eachSandboxIsItsOwnNamedUserThatCannotRenameItself() throws Exception {
    String code = String.join("\n",
        "const fs = require('fs'); const os = require('os');",
        "module.exports = async () => {",
        "  let write; try { fs.appendFileSync('/etc/passwd', 'x:x:0:0::/:/bin/sh\\n'); write = 'WROTE'; } catch (e) { write = e.code; }",
        "  const u = os.userInfo();",
        "  return { uid: u.uid, gid: u.gid, name: u.username, home: u.homedir, groups: fs.readFileSync('/etc/group', 'utf8'),",
        "    mode: (fs.statSync('/etc/passwd').mode & 0o777).toString(8), owner: fs.statSync('/etc/passwd').uid, write };",
        "};");
    JsonNode a = JSON.readTree(call(put("who-a", "whoami", code), ""));
    JsonNode b = JSON.readTree(call(put("who-b", "whoami", code), ""));
    for (JsonNode r : List.of(a, b)) {
      assertThat(r.get("uid").asLong()).as("%s", r).isBetween((long) SandboxUids.DEFAULT_BASE,
          (long) SandboxUids.DEFAULT_BASE + SandboxUids.DEFAULT_COUNT - 1);
      assertThat(r.get("gid").asLong()).isEqualTo(r.get("uid").asLong());
      assertThat(r.get("name").asText()).isEqualTo("sandbox");
      assertThat(r.get("home").asText()).isEqualTo("/tmp");
      assertThat(r.get("groups").asText()).contains("sandbox:x:" + r.get("uid").asLong() + ":");
      assertThat(r.get("mode").asText()).isEqualTo("644");
      assertThat(r.get("owner").asInt()).isZero();
      assertThat(r.get("write").asText()).isIn("EROFS", "EACCES");
    }
    assertThat(a.get("uid").asLong()).as("two sandboxes, two uids").isNotEqualTo(b.get("uid").asLong());
  }

  /** Compiles a static probe into a module directory the sandboxes see, as an npm package may ship one. */
  static String compile(String name, String source) throws Exception {
    Path src = scratch.resolve(name + ".c");
    Files.writeString(src, source);
    Path pkg = Files.createDirectories(data.resolve("modules").resolve(name + "@1.0.0"));
    Path binary = pkg.resolve(name);
    Process cc = new ProcessBuilder("gcc", "-static", "-O1", "-o", binary.toString(), src.toString())
        .redirectErrorStream(true).start();
    String out = new String(cc.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(cc.waitFor(60, TimeUnit.SECONDS) && cc.exitValue() == 0).as("gcc: " + out).isTrue();
    Files.setPosixFilePermissions(binary, PosixFilePermissions.fromString("rwxr-xr-x"));
    return "/extend/modules/" + name + "@1.0.0/" + name;
  }

  // ---- 7. module-build jobs and the networks behind the host ------------------------------------

  /**
   * Build jobs run install scripts of packages a tenant names (and may have published), and
   * reach the npm registry only (through the host's registry proxy): neither a private address
   * behind the host (here a test host in a network namespace of this test, on a veth pair) nor
   * the host's own addresses.
   */
  @Test
  void aBuildJobReachesNeitherPrivateNetworksNorTheHostsOwnAddresses() throws Exception {
    String ns = "rt" + Long.toHexString(System.nanoTime() & 0xffffff);
    String hostSide = ns + "h";
    String nsSide = ns + "n";
    Process target = null;
    try (java.net.ServerSocket onHost = new java.net.ServerSocket()) {
      sh("ip", "netns", "add", ns);
      sh("ip", "link", "add", hostSide, "type", "veth", "peer", "name", nsSide);
      sh("ip", "link", "set", nsSide, "netns", ns);
      sh("ip", "addr", "add", "10.213.77.1/30", "dev", hostSide);
      sh("ip", "link", "set", hostSide, "up");
      sh("ip", "netns", "exec", ns, "ip", "addr", "add", "10.213.77.2/30", "dev", nsSide);
      sh("ip", "netns", "exec", ns, "ip", "link", "set", nsSide, "up");
      sh("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up");
      target = new ProcessBuilder("ip", "netns", "exec", ns, "/usr/bin/node", "-e",
          "require('net').createServer((s) => s.end('private-host\\n')).listen(8099, '10.213.77.2',"
              + " () => console.log('listening'))").redirectErrorStream(true).start();
      assertThat(new java.io.BufferedReader(new java.io.InputStreamReader(target.getInputStream())).readLine())
          .isEqualTo("listening");
      onHost.bind(new java.net.InetSocketAddress("10.213.77.1", 8098));
      Thread acceptor = new Thread(() -> {
        while (!onHost.isClosed()) {
          try (java.net.Socket s = onHost.accept()) {
            s.getOutputStream().write("host-service\n".getBytes(StandardCharsets.UTF_8));
          } catch (java.io.IOException e) {
            return;
          }
        }
      });
      acceptor.setDaemon(true);
      acceptor.start();

      List<String> out = new java.util.concurrent.CopyOnWriteArrayList<>();
      Path work = Files.createDirectories(scratch.resolve("job-" + ns));
      String probe = String.join("\n",
          "const net = require('net');",
          "const one = (name, host, port) => new Promise((resolve) => {",
          "  const c = net.connect(port, host); let got = '';",
          "  c.setTimeout(4000, () => { c.destroy(); resolve(name + '=TIMEOUT'); });",
          "  c.on('data', (d) => { got += d; }); c.on('end', () => resolve(name + '=' + got.trim()));",
          "  c.on('error', (e) => resolve(name + '=' + e.code));",
          "});",
          "Promise.all([one('private', '10.213.77.2', 8099), one('hostaddr', '10.213.77.1', 8098),",
          "  one('slirphost', '10.0.2.2', 8098)]).then((r) => { r.forEach((l) => console.log(l)); });");
      JobRunner.Job job = new JobRunner.Job("rt-" + ns, List.of("/usr/bin/node", "-e", probe), java.util.Map.of(), work,
          Duration.ofSeconds(60), out::add, dev.extend.testing.TestRuntimes.runtime(), dev.extend.testing.TestRuntimes.distribution());
      assertThat(runtime.jobRunner().orElseThrow().run(job)).as("%s", out).isZero();
      assertThat(out).as("what the job reached").doesNotContain("private=private-host", "hostaddr=host-service",
          "slirphost=host-service");
    } finally {
      if (target != null) {
        target.destroyForcibly();
      }
      shQuietly("ip", "link", "del", hostSide);
      shQuietly("ip", "netns", "del", ns);
    }
  }

  static void sh(String... command) throws Exception {
    Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor(30, TimeUnit.SECONDS) && p.exitValue() == 0).as(String.join(" ", command) + ": " + out).isTrue();
  }

  static void shQuietly(String... command) {
    try {
      new ProcessBuilder(command).redirectErrorStream(true).start().waitFor(30, TimeUnit.SECONDS);
    } catch (Exception e) {
      // best effort
    }
  }

  // ---- 8. stdout on the host's disk -------------------------------------------------------------

  /**
   * The shim appends a sandbox's stdout to a file, which the tailer cuts back once past the
   * output cap (8 MiB). A tenant writing as fast as it can must not grow that file far beyond
   * the cap between two polls: the file sits on a tmpfs of the task's own of twice the cap, so
   * a flood fills that and stalls the flooder's own stdout (its call may time out), while the
   * sandbox stays destroyable and the neighbour keeps answering.
   */
  @Test
  void aStdoutFloodDoesNotGrowTheHostFileFarBeyondTheCap() throws Exception {
    WebhookRef n = neighbour();
    WebhookRef flood = put("stdoutflood", "spew", String.join("\n",
        "const fs = require('fs');",
        "module.exports = async (ctx) => {",
        "  if (!ctx.query.go) return 'ready';",
        "  const b = Buffer.alloc(1 << 20, 0x61); b[b.length - 1] = 10;",
        "  let left = 512 << 20;",
        "  while (left > 0) {",
        "    try { left -= fs.writeSync(1, b, 0, Math.min(b.length, left)); } catch (e) { if (e.code !== 'EAGAIN') throw e; }",
        "  }",
        "  return 'spewed';",
        "};"));
    assertThat(call(flood, "")).isEqualTo("ready");
    String id = sandboxOf("spew").getFileName().toString();
    Path task = TestData.dataDir().resolve("containerd/tasks").resolve(runtime.containerId(id));
    Path out = task.resolve("output/output.log");
    assertThat(out).exists();
    java.util.concurrent.atomic.AtomicLong max = new java.util.concurrent.atomic.AtomicLong();
    java.util.concurrent.atomic.AtomicBoolean running = new java.util.concurrent.atomic.AtomicBoolean(true);
    Thread watch = new Thread(() -> {
      while (running.get()) {
        try {
          max.accumulateAndGet(Files.size(out), Math::max);
        } catch (java.io.IOException e) {
          // between polls
        }
      }
    });
    watch.start();
    boolean stalled;
    try (InvocationResponse r = invoke(flood, "go=1")) {
      assertThat(r.bodyText()).isEqualTo("spewed");
      stalled = false;
    } catch (dev.extend.FunctionTimeoutException e) {
      // Stalled on its full output tmpfs until its timeout.
      stalled = true;
    } finally {
      running.set(false);
      watch.join();
    }
    assertThat(max.get()).as("largest size of the host's output file during 512 MiB of stdout").isLessThan(64L << 20);
    assertThat(call(n, "")).isEqualTo("neighbour");
    if (!stalled) {
      return;
    }
    // A stalled flooder timed out: the platform destroys its sandbox, output tmpfs included.
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
    while (System.nanoTime() < deadline && Files.exists(task)) {
      Thread.sleep(100);
    }
    assertThat(task).doesNotExist();
    assertThat(HostMounts.isMountPoint(task.resolve("output"), HostMounts.OUTPUT_SOURCE)).isFalse();
    assertThat(call(n, "")).isEqualTo("neighbour");
  }

  static Path sandboxOf(String name) throws java.io.IOException {
    try (Stream<Path> s = Files.list(data.resolve("sandboxes"))) {
      return s.filter(d -> Files.isDirectory(d.resolve("code").resolve(name))).findFirst().orElseThrow();
    }
  }
}
