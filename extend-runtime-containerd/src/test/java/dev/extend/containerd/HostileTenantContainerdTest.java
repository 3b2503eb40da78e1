package dev.extend.containerd;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.extend.spi.Sandbox;
import dev.extend.spi.SandboxExit;
import dev.extend.spi.SandboxLimits;
import dev.extend.spi.SandboxSpec;
import dev.extend.testing.ContainerdFixture;
import dev.extend.testing.TestAgent;
import dev.extend.testing.UdsHttp;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A hostile tenant inside a sandbox of the containerd runtime (real private containerd): each
 * test runs attack code through the test agent's eval route and asserts the attack fails.
 */
class HostileTenantContainerdTest {
  static final ObjectMapper JSON = new ObjectMapper();
  static final SandboxLimits LIMITS = new SandboxLimits(128, 500, 64, 8);
  static ContainerdFixture containerd;
  static ContainerdRuntime runtime;
  @TempDir static Path tmp;
  final List<Sandbox> started = new CopyOnWriteArrayList<>();

  @BeforeAll
  static void start() throws Exception {
    containerd = ContainerdFixture.start();
    runtime = ContainerdRuntime.builder().socket(containerd.socket()).namespace("extend-test")
        .nodeId("hostile").dataDir(TestData.dataDir()).outputCapBytes(64 * 1024).build();
    runtime.recover();
    TestAgent.writeTestAgent(tmp.resolve("agent"));
    Files.createDirectories(tmp.resolve("modules/left-pad@1.3.0"));
    Files.writeString(tmp.resolve("modules/left-pad@1.3.0/index.js"), "module.exports = 1;");
  }

  @AfterAll
  static void stop() throws Exception {
    if (runtime != null) {
      runtime.close();
    }
    if (containerd != null) {
      containerd.close();
    }
  }

  @AfterEach
  void destroy() {
    started.forEach(s -> s.destroy(Duration.ZERO));
  }

  Sandbox sandbox(SandboxLimits limits, List<String> output) throws Exception {
    String id = "h-" + UUID.randomUUID().toString().substring(0, 10);
    Path dir = Files.createDirectories(tmp.resolve("sandboxes").resolve(id));
    Files.createDirectories(dir.resolve("code"));
    Files.writeString(dir.resolve("code/secret-of-" + id + ".js"), "module.exports = 'tenant secret';");
    Files.createDirectories(dir.resolve("sock"));
    Sandbox s = runtime.start(new SandboxSpec(id, dir, tmp.resolve("agent"), tmp.resolve("modules"), limits,
        output::add, dev.extend.testing.TestRuntimes.runtime(), dev.extend.testing.TestRuntimes.distribution()));
    started.add(s);
    assertThat(UdsHttp.awaitOk(s.spec().socket(), "/_extend/health", Duration.ofSeconds(30)))
        .as("agent answers; output %s", output).isTrue();
    return s;
  }

  Sandbox sandbox() throws Exception {
    return sandbox(LIMITS, new CopyOnWriteArrayList<>());
  }

  static JsonNode eval(Sandbox s, String js) throws IOException {
    UdsHttp.Response r = UdsHttp.request(s.spec().socket(), "POST", "/_test/eval", js);
    assertThat(r.status()).as("eval answered: %s", r.body()).isEqualTo(200);
    return JSON.readTree(r.body());
  }

  /** JS returning the error code of {@code expr} (a sync fs call), or "OK" when it succeeded. */
  static String attempt(String expr) {
    return "try { " + expr + "; return 'OK'; } catch (e) { return e.code || String(e); }";
  }

  @Test
  void cannotReadHostFilesOrAnotherSandboxsCode() throws Exception {
    Sandbox victim = sandbox();
    Sandbox attacker = sandbox();
    Path victimCode = victim.spec().codeDir().toAbsolutePath();
    assertThat(eval(attacker, attempt("require('fs').readFileSync('/etc/shadow')")).asText()).isEqualTo("ENOENT");
    assertThat(eval(attacker, attempt("require('fs').readdirSync('" + victimCode + "')")).asText())
        .isEqualTo("ENOENT");
    assertThat(eval(attacker, attempt("require('fs').readdirSync('/root')")).asText()).isEqualTo("ENOENT");
    JsonNode own = eval(attacker, "return require('fs').readdirSync('/extend/code');");
    assertThat(own).hasSize(1);
    assertThat(own.get(0).asText()).isEqualTo("secret-of-" + attacker.id() + ".js");
    // What the root holds: the runtime's files, nothing else of the host.
    JsonNode root = eval(attacker, "return require('fs').readdirSync('/');");
    assertThat(root.toString()).doesNotContain("\"home\"", "\"root\"", "\"var\"", "\"boot\"");
  }

  @Test
  void cannotWriteRootfsCodeOrModuleStore() throws Exception {
    Sandbox s = sandbox();
    for (String path : List.of("/usr/bin/evil", "/etc/passwd", "/extend/code/evil.js",
        "/extend/modules/evil.js", "/extend/modules/left-pad@1.3.0/index.js", "/extend/agent/agent.js", "/evil")) {
      String code = eval(s, attempt("require('fs').writeFileSync('" + path + "', 'x')")).asText();
      assertThat(code).as("write to %s", path).isIn("EROFS", "EACCES", "EPERM");
    }
    assertThat(s.spec().codeDir().resolve("evil.js")).doesNotExist();
    assertThat(tmp.resolve("modules/evil.js")).doesNotExist();
    assertThat(Files.readString(tmp.resolve("modules/left-pad@1.3.0/index.js"))).isEqualTo("module.exports = 1;");
    // The socket directory is the one writable host path, and only for its own files.
    assertThat(eval(s, attempt("require('fs').writeFileSync('/extend/sock/note', 'x')")).asText()).isEqualTo("OK");
  }

  @Test
  void theSocketDirectoryCannotFillTheHostDisk() throws Exception {
    Sandbox s = sandbox();
    JsonNode r = eval(s, String.join("\n",
        "const fs = require('fs'); const chunk = Buffer.alloc(1 << 16, 1); let written = 0, big = null, many = null;",
        "try { for (let i = 0; i < 1000; i++) { fs.appendFileSync('/extend/sock/big', chunk); written += chunk.length; } }",
        "catch (e) { big = e.code; }",
        "fs.unlinkSync('/extend/sock/big');",
        "let files = 0;",
        "try { for (let i = 0; i < 10000; i++) { fs.writeFileSync('/extend/sock/f' + i, ''); files++; } } catch (e) { many = e.code; }",
        "for (let i = 0; i < files; i++) fs.unlinkSync('/extend/sock/f' + i);",
        "return { written, big, files, many };"));
    assertThat(r.get("big").asText()).isEqualTo("ENOSPC");
    assertThat(r.get("written").asLong()).isLessThanOrEqualTo(64 * 1024);
    assertThat(r.get("many").asText()).isEqualTo("ENOSPC");
    assertThat(r.get("files").asInt()).isLessThan(16);
    // The agent still answers on the socket living there.
    assertThat(UdsHttp.get(s.spec().socket(), "/_extend/health").status()).isEqualTo(200);
    Path sockDir = s.spec().socketDir();
    s.destroy(Duration.ZERO);
    assertThat(Files.readAllLines(Path.of("/proc/self/mountinfo"))).noneMatch(l -> l.contains(" " + sockDir + " "));
  }

  @Test
  void seesOnlyItsOwnProcesses() throws Exception {
    Sandbox s = sandbox();
    JsonNode pids = eval(s, "return require('fs').readdirSync('/proc').filter((n) => /^[0-9]+$/.test(n));");
    assertThat(pids.size()).isLessThan(5);
    String init = eval(s, "return require('fs').readFileSync('/proc/1/cmdline', 'utf8');").asText();
    assertThat(init).contains("agent.js");
    assertThat(eval(s, attempt("process.kill(" + ProcessHandle.current().pid() + ", 0)")).asText())
        .isEqualTo("ESRCH");
  }

  @Test
  void reachesNothingBeforeAPolicyIsAppliedAndNoHostService() throws Exception {
    Sandbox s = sandbox();
    JsonNode ifaces = eval(s, "return Object.keys(require('os').networkInterfaces());");
    assertThat(ifaces.toString()).isEqualTo("[\"lo\",\"eth0\"]");
    String mariadb = eval(s, String.join("\n",
        "return await new Promise((resolve) => {",
        "  const c = require('net').connect(3306, '127.0.0.1');",
        "  c.on('connect', () => { c.destroy(); resolve('CONNECTED'); });",
        "  c.on('error', (e) => resolve(e.code));",
        "  setTimeout(() => resolve('TIMEOUT'), 3000);",
        "});")).asText();
    assertThat(mariadb).isEqualTo("ECONNREFUSED");
    String outside = eval(s, String.join("\n",
        "return await new Promise((resolve) => {",
        "  const c = require('net').connect(3306, '10.213.0.1');", // the host, on the sandbox's own link
        "  c.on('connect', () => { c.destroy(); resolve('CONNECTED'); });",
        "  c.on('error', (e) => resolve(e.code));",
        "  setTimeout(() => resolve('TIMEOUT'), 3000);",
        "});")).asText();
    assertThat(outside).isEqualTo("ECONNREFUSED");
  }

  @Test
  void forkBombHitsThePidsLimit() throws Exception {
    Sandbox s = sandbox();
    JsonNode r = eval(s, String.join("\n",
        "const cp = require('child_process');",
        "let spawned = 0, error = null;",
        "for (let i = 0; i < 300 && !error; i++) {",
        "  try {",
        "    const c = cp.spawn('/usr/bin/node', ['-e', 'setInterval(() => {}, 1e6)'], { stdio: 'ignore' });",
        "    await new Promise((res) => { c.once('spawn', () => { spawned++; res(); });",
        "      c.once('error', (e) => { error = e.code; res(); }); });",
        "  } catch (e) { error = e.code || String(e); }",
        "}",
        "return { spawned, error };"));
    System.out.println("fork bomb in a sandbox limited to " + LIMITS.pids() + " pids: " + r);
    assertThat(r.get("error").isNull()).as("fork bomb stopped: %s", r).isFalse();
    assertThat(r.get("spawned").asInt()).isLessThan(LIMITS.pids());
    Path pids = Path.of("/sys/fs/cgroup/pids", runtime.cgroupsPath(runtime.containerId(s.id())), "pids.current");
    if (Files.exists(pids)) {
      assertThat(Long.parseLong(Files.readString(pids).trim())).isLessThanOrEqualTo(LIMITS.pids());
    }
    // The host is fine: another sandbox starts and answers.
    Sandbox next = sandbox();
    assertThat(UdsHttp.get(next.spec().socket(), "/_extend/health").status()).isEqualTo(200);
  }

  @Test
  void allocatingPastTheMemoryLimitEndsInAnOomKill() throws Exception {
    Sandbox s = sandbox(new SandboxLimits(64, 500, 64, 8), new CopyOnWriteArrayList<>());
    CompletableFuture.runAsync(() -> {
      try {
        UdsHttp.request(s.spec().socket(), "POST", "/_test/eval",
            "const a = []; for (;;) { a.push(Buffer.alloc(4 << 20, 1)); }");
      } catch (IOException expected) {
        // the sandbox dies under the request
      }
    });
    SandboxExit exit = s.exit().get(60, TimeUnit.SECONDS);
    System.out.println("memory hog ended: " + exit);
    assertThat(exit.oomKilled()).as("exit %s", exit).isTrue();
    assertThat(exit.status()).isEqualTo(137);
  }

  @Test
  void tmpIsSmallAndCapped() throws Exception {
    Sandbox s = sandbox();
    JsonNode r = eval(s, String.join("\n",
        "const fs = require('fs'); const chunk = Buffer.alloc(1 << 20, 1); let written = 0, error = null;",
        "const fd = fs.openSync('/tmp/fill', 'w');",
        "try { for (let i = 0; i < 1000; i++) { written += fs.writeSync(fd, chunk); } } catch (e) { error = e.code; }",
        "fs.closeSync(fd); fs.unlinkSync('/tmp/fill');",
        "return { written, error };"));
    assertThat(r.get("error").asText()).isEqualTo("ENOSPC");
    assertThat(r.get("written").asLong()).isLessThanOrEqualTo((long) LIMITS.tmpMb() << 20);
  }

  @Test
  void environmentHoldsNoSecrets() throws Exception {
    Sandbox s = sandbox();
    JsonNode env = JSON.readTree(UdsHttp.get(s.spec().socket(), "/_test/env").body());
    assertThat(System.getenv("EXTEND_TEST_SECRET")).as("surefire sets a secret to look for").isNotNull();
    List<String> names = new java.util.ArrayList<>();
    env.fieldNames().forEachRemaining(names::add);
    assertThat(names).containsExactlyInAnyOrder("PATH", "HOME", "NODE_ENV");
    assertThat(env.toString()).doesNotContain(System.getenv("EXTEND_TEST_SECRET"));
  }

  @Test
  void floodingStdoutIsCappedAndTheDiskStaysClean() throws Exception {
    List<String> output = new CopyOnWriteArrayList<>();
    Sandbox s = sandbox(LIMITS, output);
    eval(s, "const line = 'x'.repeat(1023); for (let i = 0; i < 20000; i++) { console.log(line); } return 1;");
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (output.stream().noneMatch(l -> l.startsWith("[extend] output exceeded")) && System.nanoTime() < deadline) {
      Thread.sleep(20);
    }
    assertThat(output).anyMatch(l -> l.startsWith("[extend] output exceeded"));
    assertThat(output.size()).isLessThan(100);
    Thread.sleep(200);
    Path file = TestData.dataDir().resolve("containerd/tasks").resolve(runtime.containerId(s.id())).resolve("output/output.log");
    assertThat(Files.size(file)).isLessThan(20L << 20);
    // And it keeps serving.
    assertThat(UdsHttp.get(s.spec().socket(), "/_extend/health").status()).isEqualTo(200);
  }

  @Test
  void runsWithoutPrivilegesUnderSeccomp() throws Exception {
    Sandbox s = sandbox();
    String status = eval(s, "return require('fs').readFileSync('/proc/self/status', 'utf8');").asText();
    assertThat(status).containsPattern("(?m)^CapEff:\\s+0000000000000000$");
    assertThat(status).containsPattern("(?m)^CapPrm:\\s+0000000000000000$");
    assertThat(status).containsPattern("(?m)^CapBnd:\\s+0000000000000000$");
    assertThat(status).containsPattern("(?m)^CapAmb:\\s+0000000000000000$");
    assertThat(status).containsPattern("(?m)^Seccomp:\\s+2$");
    assertThat(status).containsPattern("(?m)^NoNewPrivs:\\s+1$");
    // A uid (and gid) of the runtime's range: unprivileged, and the sandbox's own.
    assertThat(status).containsPattern("(?m)^Uid:\\s+(2\\d{9})\\s+\\1\\s+\\1\\s+\\1$");
    assertThat(status).containsPattern("(?m)^Gid:\\s+(2\\d{9})\\s+\\1\\s+\\1\\s+\\1$");
    assertThat(eval(s, attempt("process.setuid(0)")).asText()).isEqualTo("EPERM");
    // Masked kernel interfaces (where this kernel has them) read as empty.
    for (String masked : List.of("/proc/timer_list", "/proc/keys", "/proc/kcore", "/proc/sched_debug")) {
      if (Files.exists(Path.of(masked))) {
        assertThat(eval(s, "return require('fs').readFileSync('" + masked + "').length;").asInt())
            .as(masked).isZero();
      }
    }
    assertThat(eval(s, attempt("require('fs').writeFileSync('/proc/sys/kernel/hostname', 'x')")).asText())
        .isIn("EROFS", "EACCES", "EPERM");
  }
}
