package dev.extend.containerd;

import static org.assertj.core.api.Assertions.assertThat;

import dev.extend.ExtendException;
import dev.extend.InvocationRequest;
import dev.extend.InvocationResponse;
import dev.extend.ServerlessPlatform;
import dev.extend.WebhookRef;
import dev.extend.WebhookSpec;
import dev.extend.testing.ContainerdFixture;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * containerd goes away while the platform runs: sandboxes it started keep serving, calls that
 * need a new sandbox answer 503 — never a host process — and service resumes once it is back.
 */
class ContainerdAwayContainerdTest {
  @TempDir static Path data;
  static ContainerdFixture containerd;
  static ContainerdRuntime runtime;
  static ServerlessPlatform platform;

  @BeforeAll
  static void start() throws Exception {
    containerd = ContainerdFixture.start();
    Assumptions.assumeTrue(containerd.privateDaemon(), "stops the daemon: needs a private one");
    runtime = ContainerdRuntime.builder().socket(containerd.socket()).namespace("extend-test").nodeId("away")
        .dataDir(TestData.dataDir()).callTimeout(Duration.ofSeconds(3)).build();
    platform = ServerlessPlatform.builder().dataDir(data).nodeId("away").sandboxRuntime(runtime)
        .sandboxLimits(128, 1000, 128, 32).poolSize(1).maxSandboxes(4)
        .sandboxWaitTimeout(Duration.ofSeconds(3)).build();
    platform.pool().awaitWarm(Duration.ofSeconds(30));
  }

  @AfterAll
  static void stop() throws Exception {
    if (platform != null) {
      platform.close();
    }
    if (runtime != null) {
      runtime.close();
    }
    if (containerd != null) {
      containerd.close();
    }
  }

  static InvocationResponse invoke(WebhookRef ref) throws Exception {
    return platform.invokeAsync(ref, InvocationRequest.get()).get(60, TimeUnit.SECONDS);
  }

  static long nodeChildren() {
    return ProcessHandle.current().descendants()
        .filter(h -> h.info().command().map(c -> c.endsWith("/node")).orElse(false)).count();
  }

  @Test
  void withoutContainerdNewSandboxesAre503AndNothingRunsOnTheHost() throws Exception {
    WebhookRef warm = WebhookRef.of("warm-co", "hook");
    WebhookRef cold = WebhookRef.of("cold-co", "hook");
    for (WebhookRef ref : new WebhookRef[] {warm, cold}) {
      platform.put(ref, WebhookSpec.builder("module.exports = async () => 'up'").build());
    }
    try (InvocationResponse r = invoke(warm)) {
      assertThat(r.bodyText()).isEqualTo("up");
    }
    platform.pool().setTargetWarm(0);
    Thread.sleep(500);
    containerd.stop();
    try {
      // What runs keeps running under its shim.
      try (InvocationResponse r = invoke(warm)) {
        assertThat(r.bodyText()).isEqualTo("up");
      }
      // A container with no sandbox yet waits for one that cannot start: 503, bounded.
      Throwable failure = null;
      try {
        invoke(cold).close();
      } catch (ExecutionException e) {
        failure = e.getCause();
      }
      assertThat(failure).isInstanceOf(ExtendException.class);
      assertThat(((ExtendException) failure).status()).isEqualTo(503);
      assertThat(nodeChildren()).as("no tenant code as host processes").isZero();
      assertThat(platform.isolating()).isTrue();
      assertThat(platform.readinessProblems()).isNotEmpty();
    } finally {
      containerd.restart();
    }
    platform.pool().setTargetWarm(1);
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    String answer = null;
    while (answer == null && System.nanoTime() < deadline) {
      try (InvocationResponse r = invoke(cold)) {
        answer = r.bodyText();
      } catch (ExecutionException e) {
        Thread.sleep(500);
      }
    }
    assertThat(answer).as("served again once containerd is back").isEqualTo("up");
  }
}
