package dev.extend.containerd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.extend.FunctionErrorException;
import dev.extend.FunctionTimeoutException;
import dev.extend.InvocationRequest;
import dev.extend.InvocationResponse;
import dev.extend.Limits;
import dev.extend.ServerlessPlatform;
import dev.extend.WebhookRef;
import dev.extend.WebhookSpec;
import dev.extend.testing.ContainerdFixture;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Hostile tenants through the whole platform ({@link ServerlessPlatform#invoke}) on the
 * containerd runtime, with a real private containerd and the platform's agent.
 */
class PlatformHostileTenantContainerdTest {
  static final ObjectMapper JSON = new ObjectMapper();
  @TempDir static Path data;
  static ContainerdPlatform it;
  static ContainerdFixture containerd;
  static ContainerdRuntime runtime;
  static ServerlessPlatform platform;

  @BeforeAll
  static void start() throws Exception {
    it = ContainerdPlatform.start("platform", data, r -> r, p -> p.sandboxLimits(128, 1000, 128, 16));
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

  /** Invokes and reads the body; bounded, so a stuck invocation fails the test instead of hanging it. */
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

  @Test
  void runsOnContainerd() {
    assertThat(platform.runtimeName()).isEqualTo("containerd");
    assertThat(platform.readinessProblems()).isEmpty();
  }

  @Test
  void aTenantSeesNeitherTheHostNorItsNeighbours() throws Exception {
    WebhookRef victim = put("victim", "holds-secret", "module.exports = async (ctx) => ctx.secrets.API_KEY");
    assertThat(call(victim, "")).isEqualTo("victim-secret");
    WebhookRef spy = put("spy", "looks-around", String.join("\n",
        "const fs = require('fs');",
        "const tryRead = (p) => { try { return fs.readdirSync(p).join(','); } catch (e) { return e.code; } };",
        "module.exports = async (ctx) => ({",
        "  env: Object.keys(process.env).sort(),",
        "  code: tryRead('/extend/code'),",
        "  dataDir: tryRead('" + data.toAbsolutePath() + "'),",
        "  shadow: (() => { try { fs.readFileSync('/etc/shadow'); return 'READ'; } catch (e) { return e.code; } })(),",
        "  procs: fs.readdirSync('/proc').filter((n) => /^[0-9]+$/.test(n)).length,",
        "  uid: process.getuid(),",
        "  ifaces: Object.keys(require('os').networkInterfaces()),",
        "  status: fs.readFileSync('/proc/self/status', 'utf8').split('\\n')",
        "    .filter((l) => /^(CapEff|Seccomp|NoNewPrivs):/.test(l)).map((l) => l.replace(/\\s+/g, ' ')),",
        "});"));
    JsonNode r = JSON.readTree(call(spy, ""));
    assertThat(r.get("code").asText()).doesNotContain("holds-secret").doesNotContain("victim");
    assertThat(r.get("dataDir").asText()).isEqualTo("ENOENT");
    assertThat(r.get("shadow").asText()).isEqualTo("ENOENT");
    assertThat(r.get("procs").asInt()).isLessThan(5);
    // An unprivileged uid of the runtime's range, its own.
    assertThat(r.get("uid").asLong()).isBetween((long) SandboxUids.DEFAULT_BASE,
        (long) SandboxUids.DEFAULT_BASE + SandboxUids.DEFAULT_COUNT - 1);
    // Loopback and its own link to the egress network (EgressContainerdTest covers what passes it).
    assertThat(r.get("ifaces").toString()).isEqualTo("[\"lo\",\"eth0\"]");
    assertThat(r.get("status").toString()).contains("CapEff: 0000000000000000", "Seccomp: 2", "NoNewPrivs: 1");
    assertThat(r.get("env").toString()).doesNotContain("EXTEND_TEST_SECRET", "JAVA", "MAVEN");
  }

  @Test
  void aBusyLoopTimesOutIsRecycledAndTheNeighbourKeepsAnswering() throws Exception {
    WebhookRef neighbour = put("calm", "answers", "module.exports = async () => 'calm'");
    assertThat(call(neighbour, "")).isEqualTo("calm");
    WebhookRef spin = WebhookRef.of("spinner", "spin");
    platform.put(spin, WebhookSpec.builder("module.exports = async (ctx) => { if (ctx.query.spin) { for (;;) {} } return 'fine'; }")
        .limits(new Limits(Duration.ofMillis(1500), 128)).build());
    assertThat(call(spin, "")).isEqualTo("fine");
    CompletableFuture<Throwable> spinning = CompletableFuture.supplyAsync(() -> {
      try {
        call(spin, "spin=1");
        return null;
      } catch (RuntimeException e) {
        return e;
      }
    });
    Thread.sleep(300);
    assertThat(spinning).isNotDone();
    assertThat(call(neighbour, "")).isEqualTo("calm");
    assertThat(spinning.get(30, TimeUnit.SECONDS)).isInstanceOf(FunctionTimeoutException.class);
    try (InvocationResponse r = platform.invokeAsync(spin, InvocationRequest.get()).get(60, TimeUnit.SECONDS)) {
      assertThat(r.bodyText()).isEqualTo("fine");
      assertThat(r.cold()).as("a new sandbox replaced the spinning one").isTrue();
    }
  }

  @Test
  void processExitAndUncaughtThrowAreReplaced() {
    WebhookRef exit = put("quitter", "exit",
        "module.exports = async (ctx) => { if (ctx.query.die) process.exit(3); return 'alive'; }");
    assertThat(call(exit, "")).isEqualTo("alive");
    assertThatThrownBy(() -> call(exit, "die=1")).isInstanceOf(FunctionErrorException.class);
    assertThat(call(exit, "")).isEqualTo("alive");

    WebhookRef thrower = put("thrower", "uncaught", String.join("\n",
        "module.exports = async (ctx) => {",
        "  if (ctx.query.boom) { setTimeout(() => { throw new Error('boom'); }, 0); await new Promise((r) => setTimeout(r, 1000)); }",
        "  return 'ok';",
        "};"));
    assertThat(call(thrower, "")).isEqualTo("ok");
    assertThatThrownBy(() -> call(thrower, "boom=1")).isInstanceOf(FunctionErrorException.class);
    assertThat(call(thrower, "")).isEqualTo("ok");
  }

  @Test
  void runningOutOfMemoryKillsOnlyThatSandbox() {
    WebhookRef neighbour = put("steady", "answers", "module.exports = async () => 'steady'");
    assertThat(call(neighbour, "")).isEqualTo("steady");
    WebhookRef hog = put("hog", "eat",
        "module.exports = async (ctx) => { if (ctx.query.eat) { const a = []; for (;;) a.push(Buffer.alloc(4 << 20, 1)); } return 'lean'; }");
    assertThat(call(hog, "")).isEqualTo("lean");
    assertThatThrownBy(() -> call(hog, "eat=1")).isInstanceOf(dev.extend.ExtendException.class);
    assertThat(call(neighbour, "")).isEqualTo("steady");
    assertThat(call(hog, "")).isEqualTo("lean");
  }
}
