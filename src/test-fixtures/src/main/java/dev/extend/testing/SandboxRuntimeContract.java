package dev.extend.testing;

import static org.assertj.core.api.Assertions.assertThat;

import dev.extend.spi.Sandbox;
import dev.extend.spi.SandboxExit;
import dev.extend.spi.SandboxLimits;
import dev.extend.spi.SandboxRuntime;
import dev.extend.spi.SandboxSpec;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The contract every {@link SandboxRuntime} passes: subclass it and say how to make the runtime.
 * Sandboxes run a small test agent ({@link TestAgent}) unless a test says otherwise; one test
 * runs the platform's real agent when it is on the classpath.
 */
public abstract class SandboxRuntimeContract {
  /** Generous bounds for things that normally take milliseconds: not timing assertions. */
  protected static final Duration READY = Duration.ofSeconds(30);

  /** The limits sandboxes of this suite get. */
  protected static final SandboxLimits LIMITS = new SandboxLimits(256, 500, 64, 16);

  /** Variable names a sandbox may carry besides nothing of the platform's. */
  protected static final Set<String> ALLOWED_ENV =
      Set.of("PATH", "HOME", "NODE_ENV", "TZ", "LANG", "LC_ALL", "TMPDIR", "PWD", "SHLVL", "_");

  @TempDir
  protected Path tmp;

  /** The runtime under test, fresh for each test. */
  protected SandboxRuntime runtime;
  /** Sandboxes started through {@link #startSandbox}, destroyed after each test. */
  protected final List<Sandbox> started = new CopyOnWriteArrayList<>();

  /** A new runtime; {@code recover()} is called by the suite. */
  protected abstract SandboxRuntime createRuntime() throws Exception;

  @BeforeEach
  void createAndRecover() throws Exception {
    runtime = createRuntime();
    runtime.recover();
  }

  @AfterEach
  void closeRuntime() {
    for (Sandbox s : started) {
      s.destroy(Duration.ZERO);
    }
    if (runtime != null) {
      runtime.close();
    }
  }

  /** A host layout for one sandbox, as the platform prepares it. */
  protected SandboxSpec spec(String id, Path agentDir, List<String> output) throws IOException {
    Path dir = Files.createDirectories(tmp.resolve("sandboxes").resolve(id));
    Files.createDirectories(dir.resolve("code"));
    Files.createDirectories(dir.resolve("sock"));
    Path modules = Files.createDirectories(tmp.resolve("modules"));
    return new SandboxSpec(id, dir, agentDir, modules, LIMITS, output::add, TestRuntimes.runtime(),
        TestRuntimes.distribution());
  }

  /** The test agent's directory, written once per test. */
  protected Path testAgent() throws IOException {
    Path dir = tmp.resolve("agent");
    if (!Files.exists(dir.resolve("agent.js"))) {
      TestAgent.writeTestAgent(dir);
    }
    return dir;
  }

  /** A unique sandbox id. */
  protected static String newId() {
    return "t-" + UUID.randomUUID().toString().substring(0, 12);
  }

  /** Starts a test-agent sandbox and waits until its socket answers. */
  protected Sandbox startSandbox(List<String> output) throws Exception {
    Sandbox s = runtime.start(spec(newId(), testAgent(), output));
    started.add(s);
    assertThat(UdsHttp.awaitOk(s.spec().socket(), "/_extend/health", READY))
        .as("agent of %s answers on %s; output: %s", s.id(), s.spec().socket(), output).isTrue();
    return s;
  }

  @Test
  void startedSandboxAnswersOnItsSocketAndEndsOnDestroy() throws Exception {
    List<String> output = new CopyOnWriteArrayList<>();
    Sandbox s = startSandbox(output);
    assertThat(s.spec().socket()).exists();
    assertThat(s.codePath()).startsWith("/");
    assertThat(s.moduleStorePath()).startsWith("/");
    assertThat(s.exit()).isNotDone();
    s.destroy(Duration.ofSeconds(5));
    assertThat(s.exit().get(5, TimeUnit.SECONDS)).isNotNull();
    s.destroy(Duration.ofSeconds(5));
  }

  @Test
  void outputReachesTheSpecLineByLine() throws Exception {
    List<String> output = new CopyOnWriteArrayList<>();
    Sandbox s = startSandbox(output);
    UdsHttp.request(s.spec().socket(), "POST", "/_test/print", "first line\nsecond line");
    awaitLines(output, List.of("test agent listening", "test agent stderr line", "first line", "second line"));
  }

  @Test
  void exitCompletesWhenTheProcessEndsByItself() throws Exception {
    Sandbox s = startSandbox(new CopyOnWriteArrayList<>());
    UdsHttp.get(s.spec().socket(), "/_test/exit?code=3");
    SandboxExit exit = s.exit().get(READY.toSeconds(), TimeUnit.SECONDS);
    assertThat(exit.status()).isEqualTo(3);
    assertThat(exit.oomKilled()).isFalse();
  }

  @Test
  void exitCompletesWhenTheProcessCrashes() throws Exception {
    Sandbox s = startSandbox(new CopyOnWriteArrayList<>());
    UdsHttp.request(s.spec().socket(), "POST", "/_test/eval",
        "setTimeout(() => { throw new Error('tenant bug'); }, 10); return 'armed';");
    SandboxExit exit = s.exit().get(READY.toSeconds(), TimeUnit.SECONDS);
    assertThat(exit.status()).isNotZero();
  }

  @Test
  void concurrentStartsAllAnswer() throws Exception {
    ExecutorService pool = Executors.newFixedThreadPool(4);
    try {
      List<Future<Sandbox>> futures = new ArrayList<>();
      for (int i = 0; i < 4; i++) {
        futures.add(pool.submit(() -> startSandbox(new CopyOnWriteArrayList<>())));
      }
      for (Future<Sandbox> f : futures) {
        Sandbox s = f.get(READY.toSeconds() * 2, TimeUnit.SECONDS);
        assertThat(UdsHttp.get(s.spec().socket(), "/_extend/health").status()).isEqualTo(200);
      }
    } finally {
      pool.shutdownNow();
    }
  }

  @Test
  void closeDestroysEverySandbox() throws Exception {
    Sandbox a = startSandbox(new CopyOnWriteArrayList<>());
    Sandbox b = startSandbox(new CopyOnWriteArrayList<>());
    runtime.close();
    assertThat(a.exit().get(5, TimeUnit.SECONDS)).isNotNull();
    assertThat(b.exit().get(5, TimeUnit.SECONDS)).isNotNull();
    assertThat(UdsHttp.awaitOk(a.spec().socket(), "/_extend/health", Duration.ofMillis(200))).isFalse();
  }

  @Test
  @SuppressWarnings("unchecked")
  void environmentCarriesNothingOfThePlatform() throws Exception {
    Sandbox s = startSandbox(new CopyOnWriteArrayList<>());
    String json = UdsHttp.get(s.spec().socket(), "/_test/env").body();
    Map<String, Object> env = new com.fasterxml.jackson.databind.ObjectMapper().readValue(json, Map.class);
    assertThat(env).containsKey("PATH");
    for (String key : env.keySet()) {
      if (!ALLOWED_ENV.contains(key)) {
        assertThat(System.getenv()).as("sandbox variable %s comes from the platform", key).doesNotContainKey(key);
      }
    }
    for (Map.Entry<String, String> host : System.getenv().entrySet()) {
      if (!ALLOWED_ENV.contains(host.getKey())) {
        assertThat(env).as("platform variable %s reached the sandbox", host.getKey())
            .doesNotContainKey(host.getKey());
      }
    }
  }

  @Test
  void realAgentAnswersHealth() throws Exception {
    Assumptions.assumeTrue(TestAgent.realAgentAvailable(), "core's agent is not on the classpath");
    List<String> output = new CopyOnWriteArrayList<>();
    Path agent = TestAgent.writeRealAgent(tmp.resolve("real-agent"));
    Sandbox s = runtime.start(spec(newId(), agent, output));
    started.add(s);
    assertThat(UdsHttp.awaitOk(s.spec().socket(), "/_extend/health", READY))
        .as("real agent answers; output: %s", output).isTrue();
    s.destroy(Duration.ofSeconds(5));
    assertThat(s.exit().get(5, TimeUnit.SECONDS)).isNotNull();
  }

  // ---- the real agent's programming models ---------------------------------------------------

  /** A bound on answers that come at once: a hang fails the test instead of stalling the suite. */
  protected static final Duration ANSWER = Duration.ofSeconds(20);

  /** Starts a sandbox running the platform's real agent and waits until it answers. */
  protected Sandbox startRealAgent(List<String> output) throws Exception {
    Assumptions.assumeTrue(TestAgent.realAgentAvailable(), "core's agent is not on the classpath");
    Path agent = tmp.resolve("real-agent");
    if (!Files.exists(agent.resolve("agent.js"))) {
      TestAgent.writeRealAgent(agent);
    }
    Sandbox s = runtime.start(spec(newId(), agent, output));
    started.add(s);
    assertThat(UdsHttp.awaitOk(s.spec().socket(), "/_extend/health", READY))
        .as("real agent answers; output: %s", output).isTrue();
    return s;
  }

  /** Writes {@code code} into the sandbox's code directory and has the real agent load it as {@code name}. */
  protected static void load(Sandbox s, String name, String code) throws IOException {
    Path dir = Files.createDirectories(s.spec().codeDir().resolve(name));
    Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
    Path file = Files.writeString(dir.resolve("index.js"), code);
    Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-r--r--"));
    String command = "{\"version\": 1, \"container\": \"contract\", \"file\": \"" + name + "/index.js\","
        + " \"secrets\": {}, \"meta\": {}}";
    UdsHttp.Response r = UdsHttp.request(s.spec().socket(), "PUT", "/_extend/webhooks/" + name, "application/json",
        command, ANSWER);
    assertThat(r.status()).as("load %s: %s", name, r.body()).isEqualTo(200);
  }

  /** Invokes a loaded webhook: POST with a JSON body, or GET when {@code json} is null. */
  protected static UdsHttp.Response run(Sandbox s, String name, String query, String json) throws IOException {
    return UdsHttp.request(s.spec().socket(), json == null ? "GET" : "POST",
        "/_extend/run/" + name + (query == null ? "" : "?" + query), "application/json", json, ANSWER);
  }

  /** Loads {@code code}, invokes it and checks the status and the whole body. */
  private static void answers(Sandbox s, String name, String code, String json, int status, String body)
      throws IOException {
    load(s, name, code);
    UdsHttp.Response r = run(s, name, "x=1", json);
    assertThat(r.status()).as("%s: %s", code, r.body()).isEqualTo(status);
    assertThat(r.body()).as(code).isEqualTo(body);
  }

  /** Loads {@code code}, invokes it and checks that it answered 502 with a message containing {@code says}. */
  private static UdsHttp.Response fails(Sandbox s, String name, String code, String says) throws IOException {
    load(s, name, code);
    UdsHttp.Response r = run(s, name, null, null);
    assertThat(r.status()).as("%s: %s", code, r.body()).isEqualTo(502);
    assertThat(r.header("x-extend-error")).isEqualTo("function_error");
    assertThat(r.body()).as(code).contains("\"code\":\"function_error\"").contains(says);
    return r;
  }

  @Test
  void realAgentRunsEveryProgrammingModel() throws Exception {
    Sandbox s = startRealAgent(new CopyOnWriteArrayList<>());
    String ada = "{\"name\": \"Ada\"}";
    answers(s, "async", "module.exports = async (ctx) => ({ hello: ctx.body.name })", ada, 200, "{\"hello\":\"Ada\"}");
    answers(s, "async-none", "module.exports = async () => {}", null, 204, "");
    answers(s, "ctx-cb", "module.exports = function (ctx, cb) { cb(null, { q: ctx.query.x }); }", null, 200,
        "{\"q\":\"1\"}");
    answers(s, "cb", "module.exports = function (cb) { cb(null, 'plain ' + this.query.x); }", null, 200, "plain 1");
    // Arrow bodies that return a timer or the like still answer through their callback.
    answers(s, "ctx-cb-timer", "module.exports = (ctx, cb) => setTimeout(() => cb(null, 'timer ' + ctx.query.x), 20)",
        null, 200, "timer 1");
    answers(s, "cb-timer", "module.exports = (cb) => setTimeout(() => cb(null, 'later'), 20)", null, 200, "later");
    answers(s, "cb-async", "module.exports = function (cb) { setTimeout(() => cb(null, 'waited'), 200); }", null, 200,
        "waited");
    answers(s, "raw", "module.exports = function (ctx, req, res) { res.writeHead(201, {'content-type': 'text/plain'});"
        + " res.end('raw ' + req.method + ' ' + req.url); }", null, 201, "raw GET /?x=1");
    answers(s, "none", "module.exports = () => 'no parameters'", null, 200, "no parameters");
  }

  /** A one-parameter function is called with ctx; what it returns is the answer. */
  @Test
  void realAgentAnswersWithWhatAOneParameterFunctionReturns() throws Exception {
    Sandbox s = startRealAgent(new CopyOnWriteArrayList<>());
    String ada = "{\"name\": \"Ada\"}";
    answers(s, "arrow", "module.exports = (ctx) => ({ hello: ctx.body.name })", ada, 200, "{\"hello\":\"Ada\"}");
    answers(s, "function", "module.exports = function (ctx) { return { q: ctx.query.x, m: ctx.method }; }", null, 200,
        "{\"q\":\"1\",\"m\":\"GET\"}");
    answers(s, "text", "module.exports = (ctx) => 'x is ' + ctx.query.x", null, 200, "x is 1");
    answers(s, "number", "module.exports = (ctx) => Number(ctx.query.x) + 1", null, 200, "2");
    answers(s, "null", "module.exports = (ctx) => null", null, 204, "");
    answers(s, "pattern", "module.exports = ({ body }) => ({ got: body.name })", ada, 200, "{\"got\":\"Ada\"}");
    answers(s, "spread", "module.exports = (ctx) => ({ ...ctx }).query", null, 200, "{\"x\":\"1\"}");
    load(s, "whole", "module.exports = (ctx) => ctx");
    assertThat(run(s, "whole", "x=1", ada).body()).contains("\"query\":{\"x\":\"1\"}", "\"body\":{\"name\":\"Ada\"}");
    // a promise from a function that is not async (e.g. compiled from async code) is awaited
    answers(s, "promise", "module.exports = function (ctx) { return Promise.resolve({ p: ctx.body.name }); }", ada, 200,
        "{\"p\":\"Ada\"}");
    answers(s, "slow-promise", "module.exports = (ctx) => new Promise((r) => setTimeout(() => r('slow'), 50))", null,
        200, "slow");
    fails(s, "rejected", "module.exports = (ctx) => Promise.reject(new RangeError('no ' + ctx.query.x))", "no undefined");
  }

  @Test
  void realAgentTakesTheFirstAnswerAndIgnoresTheRest() throws Exception {
    List<String> output = new CopyOnWriteArrayList<>();
    Sandbox s = startRealAgent(output);
    answers(s, "return-then-cb", "module.exports = function (cb) { setTimeout(() => cb(null, 'second'), 10);"
        + " return { first: true }; }", null, 200, "{\"first\":true}");
    // (ctx, cb) answers through its callback: a value it returns by the way is not the answer
    answers(s, "ctx-cb-returns", "module.exports = (ctx, cb) => [cb].push(setTimeout(() => cb(null, 'called'), 10))",
        null, 200, "called");
    answers(s, "ctx-cb-promise", "module.exports = function (ctx, cb) { return Promise.resolve('promised'); }", null,
        200, "promised");
    answers(s, "cb-then-return", "module.exports = function (ctx, cb) { cb(null, 'callback first'); return 'returned'; }",
        null, 200, "callback first");
    answers(s, "cb-twice", "module.exports = (cb) => { cb(null, 'once'); cb(null, 'twice'); }", null, 200, "once");
    answers(s, "cb-then-throw", "module.exports = function (cb) { cb(null, 'before'); throw new Error('after'); }", null,
        200, "before");
    answers(s, "cb-then-reject", "module.exports = async (ctx, cb) => { cb(null, 'resolved first');"
        + " throw new Error('rejected after'); }", null, 200, "resolved first");
    UdsHttp.Response thrown = fails(s, "throws", "module.exports = (ctx) => { throw new TypeError('bad input'); }",
        "bad input");
    assertThat(thrown.body()).contains("\"name\":\"TypeError\"");
    fails(s, "cb-error", "module.exports = (ctx, cb) => cb(new Error('callback failed'))", "callback failed");
    fails(s, "rejected-empty", "module.exports = (ctx) => Promise.reject()", "rejected");
    // what came after the answers is in the webhook's log
    awaitLinesContaining(output, List.of("the callback was called after the webhook had answered", "rejected after",
        "Error: after"));
    // nothing of it hurt the agent
    assertThat(run(s, "return-then-cb", null, null).body()).isEqualTo("{\"first\":true}");
    assertThat(UdsHttp.get(s.spec().socket(), "/_extend/health").status()).isEqualTo(200);
  }

  /**
   * A function that cannot take a callback and returns undefined is answered at once with an
   * empty 204 (a receiver that only records the event), not at the timeout.
   */
  @Test
  void realAgentAnswersAtOnceWhenNoAnswerCanCome() throws Exception {
    Sandbox s = startRealAgent(new CopyOnWriteArrayList<>());
    for (String code : List.of("module.exports = () => {}", "module.exports = function () { console.log('done'); }",
        "module.exports = ({ body }) => { console.log(body); }")) {
      answers(s, "void-" + Math.abs(code.hashCode()), code, null, 204, "");
    }
  }

  /** Waits until, for each of {@code parts}, a line of {@code output} contains it. */
  protected static void awaitLinesContaining(List<String> output, List<String> parts) throws InterruptedException {
    long deadline = System.nanoTime() + READY.toNanos();
    while (!parts.stream().allMatch(p -> output.stream().anyMatch(l -> l.contains(p))) && System.nanoTime() < deadline) {
      Thread.sleep(20);
    }
    for (String p : parts) {
      assertThat(output).as("a line containing %s", p).anyMatch(l -> l.contains(p));
    }
  }

  /** Waits until {@code output} holds every expected line (in any order). */
  protected static void awaitLines(List<String> output, List<String> expected) throws InterruptedException {
    long deadline = System.nanoTime() + READY.toNanos();
    while (!output.containsAll(expected) && System.nanoTime() < deadline) {
      Thread.sleep(20);
    }
    assertThat(output).containsAll(expected);
  }
}
