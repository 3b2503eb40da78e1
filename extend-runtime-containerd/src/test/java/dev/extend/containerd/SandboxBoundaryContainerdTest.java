package dev.extend.containerd;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.extend.InvocationRequest;
import dev.extend.InvocationResponse;
import dev.extend.ServerlessPlatform;
import dev.extend.WebhookRef;
import dev.extend.WebhookSpec;
import dev.extend.testing.ContainerdFixture;
import java.io.IOException;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Hostile tenants against the boundary between a sandbox and the host, on real containerd with
 * the platform's agent: each test performs an attack for real and fails if it works, and checks
 * that a neighbour container keeps answering.
 */
class SandboxBoundaryContainerdTest {
  static final ObjectMapper JSON = new ObjectMapper();
  @TempDir static Path data;
  @TempDir static Path scratch;
  static ContainerdPlatform it;
  static ContainerdFixture containerd;
  static ContainerdRuntime runtime;
  static ServerlessPlatform platform;

  @BeforeAll
  static void start() throws Exception {
    it = ContainerdPlatform.start("boundary", data, r -> r.reconcileInterval(Duration.ofSeconds(1)), p -> p);
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

  static String call(WebhookRef ref, String query) {
    try {
      return it.call(ref, query);
    } catch (RuntimeException e) {
      throw e;
    } catch (Exception e) {
      throw new AssertionError("invocation of " + ref + " failed", e);
    }
  }

  static WebhookRef put(String container, String name, String code) {
    WebhookRef ref = WebhookRef.of(container, name);
    platform.put(ref, WebhookSpec.builder(code).secret("API_KEY", container + "-secret").build());
    return ref;
  }

  /** The host directories of this platform's live sandboxes. */
  static List<Path> sandboxDirs() throws IOException {
    try (Stream<Path> s = Files.list(data.resolve("sandboxes"))) {
      return s.filter(Files::isDirectory).toList();
    }
  }

  /** The sandbox directory whose code holds webhook {@code name}. */
  static Path sandboxOf(String name) throws IOException {
    for (Path d : sandboxDirs()) {
      if (Files.isDirectory(d.resolve("code").resolve(name))) {
        return d;
      }
    }
    throw new AssertionError("no sandbox holds " + name);
  }

  static String q(String s) {
    return URLEncoder.encode(s, StandardCharsets.UTF_8);
  }

  @Test
  void aSandboxCannotPointTheHostAtAnotherSandboxsAgent() throws Exception {
    WebhookRef victim = put("victim", "holds-secret", "module.exports = async (ctx) => ctx.secrets.API_KEY");
    assertThat(call(victim, "")).isEqualTo("victim-secret");
    Path victimDir = sandboxOf("holds-secret");

    // The attacker replaces its agent's socket with a link to the victim's (and, failing that,
    // drops a second socket beside it), then closes its connection so that the host connects anew.
    WebhookRef attacker = WebhookRef.of("attacker", "redirect");
    platform.put(attacker, WebhookSpec.builder(String.join("\n",
        "const fs = require('fs'); const net = require('net');",
        "const attempt = (f) => { try { f(); return 'DONE'; } catch (e) { return e.code; } };",
        "module.exports = function (ctx, req, res) {",
        "  const out = { me: 'attacker' };",
        "  if (ctx.query.target) {",
        "    out.unlink = attempt(() => fs.unlinkSync('/extend/sock/agent.sock'));",
        "    out.rename = attempt(() => fs.renameSync('/extend/sock/agent.sock', '/extend/sock/old.sock'));",
        "    out.symlink = attempt(() => fs.symlinkSync(ctx.query.target, '/extend/sock/agent.sock'));",
        "    out.create = attempt(() => fs.writeFileSync('/extend/sock/planted', 'x'));",
        "    out.listen = attempt(() => net.createServer().listen('/extend/sock/other.sock'));",
        "  }",
        "  res.writeHead(200, { 'content-type': 'application/json', connection: 'close' });",
        "  res.end(JSON.stringify(out));",
        "};")).build());
    String target = "../../" + victimDir.getFileName() + "/sock/agent.sock";
    JsonNode r = JSON.readTree(call(attacker, "target=" + q(target)));
    assertThat(r.get("unlink").asText()).isEqualTo("EROFS");
    assertThat(r.get("rename").asText()).isEqualTo("EROFS");
    assertThat(r.get("symlink").asText()).isIn("EROFS", "EEXIST");
    assertThat(r.get("create").asText()).isEqualTo("EROFS");
    Path attackerSock = sandboxOf("redirect").resolve("sock");
    try (Stream<Path> files = Files.list(attackerSock)) {
      assertThat(files.map(p -> p.getFileName().toString())).containsExactly("agent.sock");
    }
    assertThat(Files.isSymbolicLink(attackerSock.resolve("agent.sock"))).isFalse();
    // The host keeps reaching the attacker's own agent, never the victim's code or secret.
    for (int i = 0; i < 5; i++) {
      assertThat(JSON.readTree(call(attacker, "")).get("me").asText()).isEqualTo("attacker");
    }
    assertThat(call(victim, "")).isEqualTo("victim-secret");
  }

  @Test
  void nothingInsideASandboxNamesAnotherSandbox() throws Exception {
    WebhookRef neighbour = put("quiet", "neighbour", "module.exports = async () => 'quiet'");
    assertThat(call(neighbour, "")).isEqualTo("quiet");
    WebhookRef spy = put("spy", "names", String.join("\n",
        "const fs = require('fs'); const os = require('os');",
        "module.exports = async () => ({",
        "  mountinfo: fs.readFileSync('/proc/self/mountinfo', 'utf8'),",
        "  cgroup: fs.readFileSync('/proc/self/cgroup', 'utf8'),",
        "  hostname: os.hostname(),",
        "});"));
    JsonNode r = JSON.readTree(call(spy, ""));
    Path own = sandboxOf("names");
    List<String> others = new ArrayList<>();
    for (Path d : sandboxDirs()) {
      if (!d.equals(own)) {
        others.add(d.getFileName().toString());
      }
    }
    assertThat(others).isNotEmpty();
    String seen = r.get("mountinfo").asText() + r.get("cgroup").asText() + r.get("hostname").asText();
    assertThat(seen).doesNotContain(others.toArray(String[]::new));
    // Ids are opaque: nothing of the node or of a sequence.
    for (Path d : sandboxDirs()) {
      assertThat(d.getFileName().toString()).matches("s[0-9a-f]{24}");
    }
    // Its own cgroup namespace: no host cgroup path, so no container id either.
    for (String line : r.get("cgroup").asText().split("\n")) {
      if (!line.isBlank()) {
        assertThat(line).endsWith(":/");
      }
    }
    assertThat(r.get("hostname").asText()).isEqualTo("sandbox");
    assertThat(call(neighbour, "")).isEqualTo("quiet");
  }

  @Test
  void aSandboxCannotListTheModuleStoreButResolvesExactNames() throws Exception {
    // What another tenant depends on, already unpacked on this host.
    Path store = data.resolve("modules");
    Path other = Files.createDirectories(store.resolve("other-tenants-secret-dep@1.2.3"));
    Files.writeString(other.resolve("index.js"), "module.exports = 1;");
    WebhookRef spy = put("lister", "modules", String.join("\n",
        "const fs = require('fs');",
        "const attempt = (f) => { try { return f(); } catch (e) { return e.code; } };",
        "module.exports = async () => ({",
        "  list: attempt(() => fs.readdirSync('/extend/modules').join(',')),",
        "  exact: attempt(() => fs.statSync('/extend/modules/other-tenants-secret-dep@1.2.3').isDirectory()),",
        "});"));
    JsonNode r = JSON.readTree(call(spy, ""));
    assertThat(r.get("list").asText()).isEqualTo("EACCES");
    assertThat(r.get("exact").asBoolean()).isTrue();
  }

  @Test
  void otherUsersOfTheHostReachNeitherCodeNorAgents() throws Exception {
    WebhookRef hook = put("private", "code", "module.exports = async () => 'private'");
    assertThat(call(hook, "")).isEqualTo("private");
    assertThat(Files.getPosixFilePermissions(data)).isEqualTo(PosixFilePermissions.fromString("rwx------"));
    Path dir = sandboxOf("code");
    assertThat(Files.getPosixFilePermissions(dir)).isEqualTo(PosixFilePermissions.fromString("rwx------"));
    // A local user of the host (uid 4242) tries to drive the agent and to read the code.
    Path socket = dir.resolve("sock/agent.sock");
    Path code;
    try (Stream<Path> s = Files.walk(dir.resolve("code/code"))) {
      code = s.filter(p -> p.getFileName().toString().equals("index.js")).findFirst().orElseThrow();
    }
    String script = "const net = require('net'); const fs = require('fs');"
        + "let read; try { fs.readFileSync(process.argv[2]); read = 'READ'; } catch (e) { read = e.code; }"
        + "const c = net.connect(process.argv[1]);"
        + "c.on('connect', () => { console.log('CONNECTED ' + read); process.exit(0); });"
        + "c.on('error', (e) => { console.log(e.code + ' ' + read); process.exit(0); });";
    Process p = new ProcessBuilder("setpriv", "--reuid=4242", "--regid=4242", "--clear-groups", "/usr/bin/node", "-e",
        script, socket.toString(), code.toString()).redirectErrorStream(true).start();
    assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
    assertThat(out).isEqualTo("EACCES EACCES");
    assertThat(call(hook, "")).isEqualTo("private");
  }

  /**
   * A native program the tenant ships (as any npm package may) and runs: the system calls that
   * would let it run code that never touched a file system, or open netlink families beyond
   * routing, are refused; a binary written to {@code /tmp} cannot be executed.
   */
  @Test
  void aNativeProgramCannotUseTheSystemCallsTheProfileRefuses() throws Exception {
    Path src = scratch.resolve("probe.c");
    Files.writeString(src, String.join("\n",
        "#define _GNU_SOURCE",
        "#include <stdio.h>",
        "#include <errno.h>",
        "#include <unistd.h>",
        "#include <sys/syscall.h>",
        "#include <sys/socket.h>",
        "#include <linux/netlink.h>",
        "static const char *r(long v) { static char b[8][32]; static int i; i = (i + 1) % 8;",
        "  if (v >= 0) return \"OK\"; snprintf(b[i], 32, \"%s\", errno == EPERM ? \"EPERM\" : \"OTHER\"); return b[i]; }",
        "int main(void) {",
        "  long memfd = syscall(SYS_memfd_create, \"x\", 0); const char *m = r(memfd);",
        "  char *argv[] = { \"x\", NULL }; char *envp[] = { NULL };",
        "  long ex = syscall(SYS_execveat, 0, \"\", argv, envp, 0x1000); const char *e = r(ex);",
        "  const char *route = r(socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE));",
        "  const char *audit = r(socket(AF_NETLINK, SOCK_RAW, NETLINK_AUDIT));",
        "  const char *uevent = r(socket(AF_NETLINK, SOCK_RAW, NETLINK_KOBJECT_UEVENT));",
        "  printf(\"{\\\"memfd\\\":\\\"%s\\\",\\\"execveat\\\":\\\"%s\\\",\\\"route\\\":\\\"%s\\\",\\\"audit\\\":\\\"%s\\\",\\\"uevent\\\":\\\"%s\\\"}\",",
        "    m, e, route, audit, uevent);",
        "  return 0;",
        "}", ""));
    Path pkg = Files.createDirectories(data.resolve("modules").resolve("native-probe@1.0.0"));
    Path binary = pkg.resolve("probe");
    Process cc = new ProcessBuilder("gcc", "-static", "-O1", "-o", binary.toString(), src.toString())
        .redirectErrorStream(true).start();
    String ccOut = new String(cc.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(cc.waitFor(60, TimeUnit.SECONDS) && cc.exitValue() == 0).as("gcc: " + ccOut).isTrue();
    Files.setPosixFilePermissions(binary, PosixFilePermissions.fromString("rwxr-xr-x"));

    WebhookRef neighbour = put("bystander", "answers", "module.exports = async () => 'bystander'");
    assertThat(call(neighbour, "")).isEqualTo("bystander");
    WebhookRef probe = put("prober", "syscalls", String.join("\n",
        "const cp = require('child_process'); const fs = require('fs');",
        "const attempt = (f) => { try { return f(); } catch (e) { return e.code; } };",
        "module.exports = async () => {",
        "  const result = JSON.parse(cp.execFileSync('/extend/modules/native-probe@1.0.0/probe').toString());",
        "  fs.copyFileSync('/extend/modules/native-probe@1.0.0/probe', '/tmp/probe');",
        "  fs.chmodSync('/tmp/probe', 0o755);",
        "  result.tmpExec = attempt(() => cp.execFileSync('/tmp/probe').toString() && 'RAN');",
        "  return result;",
        "};"));
    JsonNode r = JSON.readTree(call(probe, ""));
    assertThat(r.get("memfd").asText()).isEqualTo("EPERM");
    assertThat(r.get("execveat").asText()).isEqualTo("EPERM");
    assertThat(r.get("route").asText()).as("getifaddrs still works").isEqualTo("OK");
    assertThat(r.get("audit").asText()).isEqualTo("EPERM");
    assertThat(r.get("uevent").asText()).isEqualTo("EPERM");
    assertThat(r.get("tmpExec").asText()).isEqualTo("EACCES");
    assertThat(call(neighbour, "")).isEqualTo("bystander");
  }

  /**
   * The tenant writes raw bytes on its agent's connection to the host: a flood of header lines
   * (tens of MiB) or a header name that would desynchronise a lenient client. The call is
   * refused (502), the host reads no more than the head cap, and the same sandbox serves on.
   */
  @Test
  void aFloodOfHeaderLinesOrABadHeaderIsRefusedAndTheSandboxServesOn() throws Exception {
    WebhookRef neighbour = put("unbothered", "answers", "module.exports = async () => 'unbothered'");
    assertThat(call(neighbour, "")).isEqualTo("unbothered");
    WebhookRef raw = put("raw-writer", "head", String.join("\n",
        "module.exports = function (ctx, req, res) {",
        "  const s = req.socket;",
        "  if (ctx.query.mode === 'flood') {",
        "    s.write('HTTP/1.1 200 OK\\r\\n');",
        "    const chunk = ('x-flood: ' + 'a'.repeat(100) + '\\r\\n').repeat(1000);",
        "    let n = 0;",
        "    const pump = () => { while (n < 500 && s.write(chunk)) n++; if (n < 500) { n++; s.once('drain', pump); } };",
        "    s.on('error', () => {});",
        "    pump();",
        "    return;",
        "  }",
        "  if (ctx.query.mode === 'badname') {",
        "    s.write('HTTP/1.1 200 OK\\r\\nbad name: x\\r\\ncontent-length: 2\\r\\n\\r\\nok');",
        "    return;",
        "  }",
        "  res.end('fine');",
        "};"));
    assertThat(call(raw, "")).isEqualTo("fine");
    for (String mode : List.of("flood", "badname")) {
      long t0 = System.nanoTime();
      org.assertj.core.api.Assertions.assertThatThrownBy(() -> call(raw, "mode=" + mode))
          .isInstanceOf(dev.extend.FunctionErrorException.class)
          .hasMessageContaining("the sandbox's answer was refused");
      assertThat(System.nanoTime() - t0).as("refused at once, not at the timeout").isLessThan(TimeUnit.SECONDS.toNanos(20));
      try (InvocationResponse r = platform.invokeAsync(raw, InvocationRequest.get()).get(60, TimeUnit.SECONDS)) {
        assertThat(r.bodyText()).isEqualTo("fine");
        assertThat(r.cold()).as("the same sandbox serves on").isFalse();
      }
    }
    assertThat(call(neighbour, "")).isEqualTo("unbothered");
  }

  /** What containerd and the host hold for this node, counted independently of the platform. */
  record Held(int containers, int shims, int mounts) {}

  static Held held() throws IOException {
    int containers = TestData.containersOf(containerd.socket(), "boundary").size();
    int shims = 0;
    String address = containerd.socket().toString();
    try (Stream<ProcessHandle> all = ProcessHandle.allProcesses()) {
      for (ProcessHandle h : (Iterable<ProcessHandle>) all::iterator) {
        String cmd = h.info().commandLine().orElse("");
        if (cmd.contains("containerd-shim-runc-v2") && cmd.contains(address) && cmd.contains("boundary.")) {
          shims++;
        }
      }
    }
    int mounts = 0;
    for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"))) {
      if (line.contains(" - tmpfs extend-sock ") && line.contains(data.resolve("sandboxes").toString())) {
        mounts++;
      }
    }
    return new Held(containers, shims, mounts);
  }

  /** The sandboxes the platform knows on this node: warm, starting, assigned or being destroyed. */
  static int known() {
    var st = platform.pool().stats();
    return st.warm() + st.starting() + st.assigned();
  }

  /** Waits until containerd holds exactly what the platform's sandboxes account for; returns both. */
  static Held[] settled() throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (true) {
      int expected = known();
      Held h = held();
      Held want = new Held(expected, expected, expected);
      if (h.equals(want) && known() == expected || System.nanoTime() > deadline) {
        return new Held[] {h, want};
      }
      Thread.sleep(100);
    }
  }

  @Test
  void sandboxesThatEndByThemselvesAreFullyReleased() throws Exception {
    platform.pool().awaitWarm(Duration.ofSeconds(30));
    WebhookRef steady = put("steady", "answers", "module.exports = async () => 'steady'");
    assertThat(call(steady, "")).isEqualTo("steady");
    Held[] before = settled();
    assertThat(before[0]).isEqualTo(before[1]);

    WebhookRef quitter = put("self-exit", "bye",
        "module.exports = async () => { setTimeout(() => process.exit(3), 1); return 'bye'; }");
    for (int i = 0; i < 50; i++) {
      assertThat(call(quitter, "")).isEqualTo("bye");
      // Wait until this sandbox is gone, so that the next call is served by a new one.
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
      while (System.nanoTime() < deadline && Files.isDirectory(data.resolve("sandboxes"))
          && sandboxDirs().stream().anyMatch(d -> Files.isDirectory(d.resolve("code/bye")))) {
        Thread.sleep(5);
      }
    }
    platform.pool().awaitWarm(Duration.ofSeconds(30));
    Held[] after = settled();
    assertThat(after[0]).as("containers, shims and socket mounts of the node's sandboxes").isEqualTo(after[1]);
    assertThat(after[0].containers()).isLessThanOrEqualTo(before[0].containers() + 1);
    assertThat(call(steady, "")).isEqualTo("steady");
  }

  @Test
  void reconciliationRemovesContainersThePlatformDoesNotKnow() throws Exception {
    platform.pool().awaitWarm(Duration.ofSeconds(30));
    // A container of this node that no sandbox owns (as a lost release would leave behind).
    try (ContainerdClient c = new ContainerdClient(containerd.socket(), "extend-test", Duration.ofSeconds(10))) {
      c.containers().create(dev.extend.containerd.internal.api.ContainersApi.CreateContainerRequest.newBuilder()
          .setContainer(dev.extend.containerd.internal.api.ContainersApi.Container.newBuilder()
              .setId("boundary.stray")
              .putLabels(ContainerdRuntime.NODE_LABEL, "boundary")
              .setRuntime(dev.extend.containerd.internal.api.ContainersApi.Container.Runtime.newBuilder()
                  .setName(ContainerdTask.RUNC))
              .setSpec(com.google.protobuf.Any.newBuilder().setTypeUrl(ContainerdTask.SPEC_TYPE)
                  .setValue(com.google.protobuf.ByteString.copyFromUtf8("{}"))))
          .build());
    }
    assertThat(TestData.containersOf(containerd.socket(), "boundary")).contains("boundary.stray");
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
    while (System.nanoTime() < deadline && TestData.containersOf(containerd.socket(), "boundary").contains("boundary.stray")) {
      Thread.sleep(100);
    }
    assertThat(TestData.containersOf(containerd.socket(), "boundary")).doesNotContain("boundary.stray");
  }
}
