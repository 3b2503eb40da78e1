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

  /** Waits until {@code output} holds every expected line (in any order). */
  protected static void awaitLines(List<String> output, List<String> expected) throws InterruptedException {
    long deadline = System.nanoTime() + READY.toNanos();
    while (!output.containsAll(expected) && System.nanoTime() < deadline) {
      Thread.sleep(20);
    }
    assertThat(output).containsAll(expected);
  }
}
