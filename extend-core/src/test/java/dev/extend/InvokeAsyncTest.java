package dev.extend;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** platform.invokeAsync with real Node: the warm path, the slow path and every way to fail. */
class InvokeAsyncTest {
  @TempDir static Path data;
  static ServerlessPlatform platform;

  @BeforeAll
  static void start() throws Exception {
    platform = PlatformTestSupport.builder(data).maxInFlightPerContainer(400).build();
    platform.pool().awaitWarm(Duration.ofSeconds(20));
  }

  @AfterAll
  static void stop() {
    platform.close();
  }

  private static WebhookRef put(String container, String name, String code) {
    WebhookRef ref = WebhookRef.of(container, name);
    platform.put(ref, WebhookSpec.builder(code).build());
    return ref;
  }

  private static InvocationResponse await(CompletableFuture<InvocationResponse> f) throws Exception {
    return f.get(30, TimeUnit.SECONDS);
  }

  private static Throwable failure(CompletableFuture<InvocationResponse> f) throws Exception {
    try {
      f.get(30, TimeUnit.SECONDS).close();
      throw new AssertionError("the call succeeded");
    } catch (ExecutionException e) {
      return e.getCause();
    }
  }

  @Test
  void coldThenWarmCallsAnswerAndAWarmOneCompletesOnTheIoThread() throws Exception {
    // the answer takes a moment, so the future surely completes on the thread that reads it
    WebhookRef ref = put("async-echo", "echo", "module.exports = async (ctx) => {"
        + " await new Promise((r) => setTimeout(r, 100)); return { n: ctx.body.n, q: ctx.query.x }; }");
    try (InvocationResponse cold = await(platform.invokeAsync(ref, InvocationRequest.json("{\"n\": 1}")))) {
      assertThat(cold.status()).isEqualTo(200);
      assertThat(cold.cold()).isTrue();
      assertThat(cold.bodyText()).isEqualTo("{\"n\":1}");
    }
    AtomicReference<String> thread = new AtomicReference<>();
    CompletableFuture<InvocationResponse> warm = platform.invokeAsync(ref,
        InvocationRequest.builder().query("x=2").body("{\"n\": 2}").header("content-type", "application/json").build(),
        task -> {
          thread.set(Thread.currentThread().getName());
          task.run();
        });
    try (InvocationResponse r = await(warm)) {
      assertThat(r.cold()).isFalse();
      ByteBuffer whole = r.completeBody().orElseThrow();
      assertThat(StandardCharsets.UTF_8.decode(whole).toString()).isEqualTo("{\"n\":2,\"q\":\"2\"}");
    }
    assertThat(thread.get()).isEqualTo("extend-agent-io");

    // the default completes where blocking is allowed, off the I/O thread
    CompletableFuture<InvocationResponse> safe = platform.invokeAsync(ref, InvocationRequest.json("{\"n\": 3}"));
    CompletableFuture<String> where = safe.thenApply(r -> {
      r.close();
      return Thread.currentThread().getName();
    });
    assertThat(where.get(30, TimeUnit.SECONDS)).isNotEqualTo("extend-agent-io");
  }

  @Test
  void longAndStreamedAnswersAreReadOffTheIoThread() throws Exception {
    WebhookRef big = put("async", "big", "module.exports = async (ctx) => 'y'.repeat(Number(ctx.query.n))");
    await(platform.invokeAsync(big, InvocationRequest.builder().query("n=1").build())).close();
    try (InvocationResponse r = await(platform.invokeAsync(big, InvocationRequest.builder().query("n=2000000").build()))) {
      assertThat(r.completeBody()).isEmpty();
      assertThat(r.bodyBytes()).hasSize(2_000_000);
    }
    WebhookRef raw = put("async", "chunks", "module.exports = (ctx, req, res) => {"
        + " res.writeHead(200, {'content-type': 'text/plain'}); let i = 0;"
        + " const t = setInterval(() => { res.write('part' + i + ';'); if (++i === 5) { clearInterval(t); res.end(); } }, 5); }");
    await(platform.invokeAsync(raw, InvocationRequest.get())).close();
    try (InvocationResponse r = await(platform.invokeAsync(raw, InvocationRequest.get()))) {
      assertThat(r.completeBody()).isEmpty();
      assertThat(r.bodyText()).isEqualTo("part0;part1;part2;part3;part4;");
    }
  }

  @Test
  void failuresCompleteTheFutureExceptionally() throws Exception {
    assertThat(failure(platform.invokeAsync(WebhookRef.of("async", "missing"), InvocationRequest.get())))
        .isInstanceOf(NotFoundException.class);

    WebhookRef thrower = put("async", "thrower", "module.exports = async (ctx) => { if (ctx.query.boom) throw new RangeError('out'); return 'ok'; }");
    await(platform.invokeAsync(thrower, InvocationRequest.get())).close();
    assertThat(failure(platform.invokeAsync(thrower, InvocationRequest.builder().query("boom=1").build(), Runnable::run)))
        .isInstanceOfSatisfying(FunctionErrorException.class, e -> assertThat(e.getMessage()).isEqualTo("out"));

    WebhookRef slow = WebhookRef.of("async-slow", "spin");
    platform.put(slow, WebhookSpec.builder("module.exports = async (ctx) => { if (ctx.query.spin) { for (;;) {} } return 'fine'; }")
        .limits(new Limits(Duration.ofMillis(500), 128)).build());
    await(platform.invokeAsync(slow, InvocationRequest.get())).close();
    assertThat(failure(platform.invokeAsync(slow, InvocationRequest.builder().query("spin=1").build(), Runnable::run)))
        .isInstanceOf(FunctionTimeoutException.class);
    try (InvocationResponse r = await(platform.invokeAsync(slow, InvocationRequest.get()))) {
      assertThat(r.bodyText()).isEqualTo("fine");
    }

    WebhookRef crash = put("async-crash", "exit", "module.exports = async (ctx) => { if (ctx.query.die) process.exit(3); return 'alive'; }");
    await(platform.invokeAsync(crash, InvocationRequest.get())).close();
    assertThat(failure(platform.invokeAsync(crash, InvocationRequest.builder().query("die=1").build(), Runnable::run)))
        .isInstanceOf(FunctionErrorException.class).hasMessageContaining("ended");
    try (InvocationResponse r = await(platform.invokeAsync(crash, InvocationRequest.get()))) {
      assertThat(r.bodyText()).isEqualTo("alive");
    }
  }

  @Test
  void anUpdateIsServedByTheNextAsyncCall() throws Exception {
    WebhookRef ref = put("async", "versioned", "module.exports = async () => 'one'");
    try (InvocationResponse r = await(platform.invokeAsync(ref, InvocationRequest.get()))) {
      assertThat(r.bodyText()).isEqualTo("one");
    }
    platform.put(ref, WebhookSpec.builder("module.exports = async () => 'two'").build());
    try (InvocationResponse r = await(platform.invokeAsync(ref, InvocationRequest.get(), Runnable::run))) {
      assertThat(r.bodyText()).isEqualTo("two");
    }
  }

  @Test
  void manyConcurrentAsyncCallsAllAnswer() throws Exception {
    WebhookRef ref = put("async-many", "wait", "module.exports = async (ctx) => {"
        + " await new Promise((r) => setTimeout(r, 50)); return String(ctx.body.i); }");
    await(platform.invokeAsync(ref, InvocationRequest.json("{\"i\": -1}"))).close();
    List<CompletableFuture<InvocationResponse>> calls = new ArrayList<>();
    for (int i = 0; i < 300; i++) {
      calls.add(platform.invokeAsync(ref, InvocationRequest.json("{\"i\": " + i + "}"), Runnable::run));
    }
    for (int i = 0; i < calls.size(); i++) {
      try (InvocationResponse r = await(calls.get(i))) {
        assertThat(r.bodyText()).isEqualTo(Integer.toString(i));
      }
    }
  }
}
