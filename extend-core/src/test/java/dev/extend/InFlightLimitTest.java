package dev.extend;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * One container cannot hold more than its share of a node: invocations in flight beyond the
 * container's limit are refused with 429 at once, other containers keep being served, and a
 * caller that gives up (cancels) frees its place.
 */
class InFlightLimitTest {
  @TempDir
  static Path data;
  static ServerlessPlatform platform;
  static final WebhookRef SLOW = WebhookRef.of("greedy", "slow");
  static final WebhookRef OTHER = WebhookRef.of("modest", "quick");

  @BeforeAll
  static void start() throws Exception {
    platform = PlatformTestSupport.builder(data).maxInFlightPerContainer(3).build();
    platform.put(SLOW, WebhookSpec.builder(
        "module.exports = async (ctx) => { await new Promise((r) => setTimeout(r, Number(ctx.query.ms || 0))); return 'slow'; }")
        .build());
    platform.put(OTHER, WebhookSpec.builder("module.exports = async () => 'quick'").build());
    platform.pool().awaitWarm(Duration.ofSeconds(30));
    // Warm both: assigned sandboxes and loaded code, so the calls below take the fast path.
    assertThat(call(SLOW, "ms=0")).isEqualTo("slow");
    assertThat(call(OTHER, "")).isEqualTo("quick");
  }

  @AfterAll
  static void stop() {
    if (platform != null) {
      platform.close();
    }
  }

  static CompletableFuture<InvocationResponse> async(WebhookRef ref, String query) {
    return platform.invokeAsync(ref, InvocationRequest.builder().query(query).build());
  }

  static String call(WebhookRef ref, String query) throws Exception {
    try (InvocationResponse r = async(ref, query).get(30, TimeUnit.SECONDS)) {
      return r.bodyText();
    }
  }

  static Throwable failureOf(CompletableFuture<?> f) throws Exception {
    try {
      f.get(30, TimeUnit.SECONDS);
      return null;
    } catch (ExecutionException e) {
      return e.getCause();
    }
  }

  @Test
  void beyondItsLimitAContainerGets429AndOthersAreServed() throws Exception {
    List<CompletableFuture<InvocationResponse>> calls = new ArrayList<>();
    for (int i = 0; i < 10; i++) {
      calls.add(async(SLOW, "ms=1500"));
    }
    // While the three admitted ones run, the neighbour answers.
    assertThat(call(OTHER, "")).isEqualTo("quick");
    int ok = 0;
    int refused = 0;
    for (CompletableFuture<InvocationResponse> f : calls) {
      Throwable t = failureOf(f);
      if (t == null) {
        f.join().close();
        ok++;
      } else {
        assertThat(t).isInstanceOf(TooManyRequestsException.class).hasMessageContaining("maxInFlightPerContainer");
        assertThat(((TooManyRequestsException) t).status()).isEqualTo(429);
        assertThat(((TooManyRequestsException) t).retryAfterSeconds()).isGreaterThanOrEqualTo(1);
        refused++;
      }
    }
    assertThat(ok).isEqualTo(3);
    assertThat(refused).isEqualTo(7);
    // Once they are answered, the container is admitted again.
    assertThat(call(SLOW, "ms=0")).isEqualTo("slow");
  }

  @Test
  void aContainerCanHaveItsOwnLimit() throws Exception {
    platform.setMaxInFlight(SLOW.container(), 1);
    try {
      CompletableFuture<InvocationResponse> first = async(SLOW, "ms=1000");
      Thread.sleep(100);
      assertThat(failureOf(async(SLOW, "ms=0"))).isInstanceOf(TooManyRequestsException.class);
      first.get(30, TimeUnit.SECONDS).close();
    } finally {
      platform.setMaxInFlight(SLOW.container(), 0);
    }
  }

  @Test
  void aCallerThatCancelsFreesItsPlace() throws Exception {
    platform.setMaxInFlight(SLOW.container(), 1);
    try {
      CompletableFuture<InvocationResponse> abandoned = async(SLOW, "ms=20000");
      Thread.sleep(200);
      assertThat(abandoned.cancel(true)).isTrue();
      assertThat(abandoned.isCancelled()).isTrue();
      // Its place is free at once, not after the webhook's 20 s.
      long t0 = System.nanoTime();
      assertThat(call(SLOW, "ms=0")).isEqualTo("slow");
      assertThat(System.nanoTime() - t0).isLessThan(TimeUnit.SECONDS.toNanos(15));
    } finally {
      platform.setMaxInFlight(SLOW.container(), 0);
    }
  }
}
