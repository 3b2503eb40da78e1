package dev.extend;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Webhooks on each of the platform's own Node.js runtimes, side by side in one container, with
 * the development runtime: which Node answers, which sandbox, what a retired runtime answers.
 */
class RuntimesTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  /** Reports the Node.js version and ABI, and the process, in every programming model's way. */
  private static final String REPORT = "module.exports = async () => ({version: process.version,"
      + " abi: process.versions.modules, pid: process.pid, execPath: process.execPath})";

  @TempDir static Path data;
  static ServerlessPlatform platform;

  @BeforeAll
  static void start() throws Exception {
    platform = PlatformTestSupport.builder(data)
        .runtimeState("node20", NodeRuntime.State.DEPRECATED)
        .build();
    platform.pool().awaitWarm(Duration.ofSeconds(60));
  }

  @AfterAll
  static void stop() {
    if (platform != null) {
      platform.close();
    }
  }

  private static JsonNode report(WebhookRef ref) throws Exception {
    try (InvocationResponse r = platform.invoke(ref, InvocationRequest.get())) {
      String body = r.bodyText();
      assertThat(r.status()).as(body).isEqualTo(200);
      return JSON.readTree(body);
    }
  }

  @Test
  void eachRuntimeRunsItsPinnedNodeInItsOwnSandbox() throws Exception {
    Set<Long> pids = new HashSet<>();
    for (NodeRuntime rt : NodeRuntime.BUILT_IN) {
      WebhookRef ref = WebhookRef.of("multi", "on-" + rt.name());
      platform.put(ref, WebhookSpec.builder(REPORT).runtime(rt.name()).build());
      JsonNode j = report(ref);
      assertThat(j.get("version").asText()).isEqualTo("v" + rt.nodeVersion());
      assertThat(j.get("abi").asInt()).isEqualTo(rt.abi());
      // The platform's own distribution, never the host's node.
      assertThat(j.get("execPath").asText()).contains(rt.distributionId()).doesNotStartWith("/usr/bin");
      pids.add(j.get("pid").asLong());
    }
    // Each runtime had cold starts: the warm target is split over all three, summing to it.
    var targets = platform.pool().targetByRuntime();
    assertThat(targets.keySet()).containsExactly("node20", "node22", "node24");
    assertThat(targets.values().stream().mapToInt(Integer::intValue).sum()).isEqualTo(platform.pool().stats().targetWarm());
    assertThat(platform.pool().warmByRuntime().keySet()).containsExactly("node20", "node22", "node24");
    // One container, three runtimes: three sandboxes, each kept for its runtime's webhooks.
    assertThat(pids).hasSize(3);
    for (NodeRuntime rt : NodeRuntime.BUILT_IN) {
      assertThat(pids).contains(report(WebhookRef.of("multi", "on-" + rt.name())).get("pid").asLong());
    }
  }

  @org.junit.jupiter.params.ParameterizedTest
  @org.junit.jupiter.params.provider.ValueSource(strings = {"node20", "node22", "node24"})
  void everyProgrammingModelBehavesTheSameOnEachRuntime(String runtime) throws Exception {
    String c = "models-" + runtime;
    WebhookRef callback = WebhookRef.of(c, "callback");
    platform.put(callback, WebhookSpec.builder("module.exports = function (cb) { cb(null, 'plain ' + process.version); }")
        .runtime(runtime).build());
    WebhookRef ctxCb = WebhookRef.of(c, "ctx-cb");
    platform.put(ctxCb, WebhookSpec.builder("module.exports = function (ctx, cb) { cb(null, {s: ctx.secrets.K,"
        + " q: ctx.query.x, w: ctx.webhook.name}); }").secret("K", "v").runtime(runtime).build());
    WebhookRef async = WebhookRef.of(c, "async");
    platform.put(async, WebhookSpec.builder("module.exports = async (ctx) => ({hi: ctx.body.name})").runtime(runtime).build());
    WebhookRef raw = WebhookRef.of(c, "raw");
    platform.put(raw, WebhookSpec.builder("module.exports = function (ctx, req, res) { let n = 0;"
        + " req.on('data', d => n += d.length); req.on('end', () => { res.writeHead(201, {'x-seen': String(n)});"
        + " res.end('got ' + n + ' at ' + req.url); }); }").runtime(runtime).build());
    String version = "v" + platform.runtime(runtime).nodeVersion();
    try (InvocationResponse r = platform.invoke(callback, InvocationRequest.get())) {
      assertThat(r.status()).isEqualTo(200);
      assertThat(r.bodyText()).isEqualTo("plain " + version);
    }
    try (InvocationResponse r = platform.invoke(ctxCb, InvocationRequest.builder().query("x=1").build())) {
      assertThat(r.bodyText()).isEqualTo("{\"s\":\"v\",\"q\":\"1\",\"w\":\"ctx-cb\"}");
    }
    try (InvocationResponse r = platform.invoke(async, InvocationRequest.json("{\"name\":\"Ada\"}"))) {
      assertThat(r.headers().first("content-type")).startsWith("application/json");
      assertThat(r.bodyText()).isEqualTo("{\"hi\":\"Ada\"}");
    }
    try (InvocationResponse r = platform.invoke(raw, InvocationRequest.builder().path("/up").body(new byte[70_000]).build())) {
      assertThat(r.status()).isEqualTo(201);
      assertThat(r.headers().first("x-seen")).isEqualTo("70000");
      assertThat(r.bodyText()).isEqualTo("got 70000 at /up");
    }
    try (InvocationResponse r = platform.invokeAsync(async, InvocationRequest.json("{\"name\":\"Bo\"}")).join()) {
      assertThat(r.bodyText()).isEqualTo("{\"hi\":\"Bo\"}");
    }
  }

  @Test
  void aWebhookWithoutARuntimeGetsTheDefaultByNameAndKeepsIt() throws Exception {
    WebhookRef ref = WebhookRef.of("defaults", "plain");
    PutResult put = platform.put(ref, WebhookSpec.builder(REPORT).build());
    assertThat(put.webhook().runtime()).isEqualTo(NodeRuntime.DEFAULT);
    assertThat(platform.get(ref).orElseThrow().runtime()).isEqualTo(NodeRuntime.DEFAULT);
    assertThat(report(ref).get("version").asText()).isEqualTo("v" + platform.defaultRuntime().nodeVersion());
  }

  @Test
  void unknownAndMalformedRuntimesAreRefusedNamingTheField() {
    assertThatThrownBy(() -> platform.put(WebhookRef.of("bad", "x"), WebhookSpec.builder(REPORT).runtime("node99").build()))
        .isInstanceOfSatisfying(ValidationException.class, e -> assertThat(e.getMessage()).contains("runtime", "node99",
            "node22"));
    assertThatThrownBy(() -> WebhookSpec.builder(REPORT).runtime("python3").build())
        .isInstanceOfSatisfying(ValidationException.class, e -> assertThat(e.getMessage()).contains("runtime"));
    assertThat(platform.get(WebhookRef.of("bad", "x"))).isEmpty();
  }

  @Test
  void theListShowsStatesAndTheDefault() {
    assertThat(platform.runtimes()).extracting(NodeRuntime::name).containsExactly("node20", "node22", "node24");
    assertThat(platform.runtime("node20").state()).isEqualTo(NodeRuntime.State.DEPRECATED);
    assertThat(platform.defaultRuntime().name()).isEqualTo("node22");
  }

  @Test
  void aRetiredRuntimeAnswers409NamingItAndIsNeverUpgradedSilently(@TempDir Path other) throws Exception {
    // Written while node20 runs, on a shared store; then a platform on which node20 is retired.
    var store = dev.extend.spi.FunctionStore.inMemory();
    WebhookRef ref = WebhookRef.of("old", "legacy");
    try (ServerlessPlatform before = PlatformTestSupport.builder(other.resolve("a")).functionStore(store).poolSize(0).build()) {
      before.put(ref, WebhookSpec.builder(REPORT).runtime("node20").build());
    }
    try (ServerlessPlatform after = PlatformTestSupport.builder(other.resolve("b")).functionStore(store).poolSize(0)
        .runtimeState("node20", NodeRuntime.State.RETIRED).build()) {
      assertThatThrownBy(() -> after.invoke(ref, InvocationRequest.get()))
          .isInstanceOfSatisfying(ConflictException.class, e -> {
            assertThat(e.status()).isEqualTo(409);
            assertThat(e.code()).isEqualTo("runtime_retired");
            assertThat(e.getMessage()).contains("node20");
          });
      assertThatThrownBy(() -> after.invokeAsync(ref, InvocationRequest.get()).join())
          .hasCauseInstanceOf(ConflictException.class);
      // Writes on it are refused too, and the stored webhook keeps its runtime.
      assertThatThrownBy(() -> after.put(ref, WebhookSpec.builder(REPORT).runtime("node20").build()))
          .isInstanceOfSatisfying(ConflictException.class, e -> assertThat(e.getMessage()).contains("node20", "retired"));
      assertThat(after.get(ref).orElseThrow().runtime()).isEqualTo("node20");
      // Moving it is the tenant's choice.
      after.put(ref, WebhookSpec.builder(REPORT).runtime("node24").build());
      assertThat(after.get(ref).orElseThrow().runtime()).isEqualTo("node24");
    }
  }

  @Test
  void theDefaultRuntimeCannotBeRetiredOrUnknown(@TempDir Path other) {
    assertThatThrownBy(() -> PlatformTestSupport.builder(other).runtimeState("node22", NodeRuntime.State.RETIRED).build())
        .isInstanceOf(IllegalStateException.class).hasMessageContaining("retired");
    assertThatThrownBy(() -> PlatformTestSupport.builder(other).defaultRuntime("node18").build())
        .isInstanceOf(IllegalStateException.class).hasMessageContaining("node18");
  }
}
