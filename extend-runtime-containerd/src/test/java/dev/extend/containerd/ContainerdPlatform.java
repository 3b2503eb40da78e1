package dev.extend.containerd;

import static org.assertj.core.api.Assertions.assertThat;

import dev.extend.InvocationRequest;
import dev.extend.InvocationResponse;
import dev.extend.ServerlessPlatform;
import dev.extend.WebhookRef;
import dev.extend.testing.ContainerdFixture;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;

/**
 * A whole platform on a private containerd, as the hostile-tenant suites use it: the daemon, a
 * runtime in the test namespace, a platform with small sandboxes, its pool warm. Closing ends
 * all three. Calls are bounded, so a stuck invocation fails its test instead of hanging it.
 */
final class ContainerdPlatform implements AutoCloseable {
  final ContainerdFixture containerd;
  final ContainerdRuntime runtime;
  final ServerlessPlatform platform;

  private ContainerdPlatform(ContainerdFixture containerd, ContainerdRuntime runtime, ServerlessPlatform platform) {
    this.containerd = containerd;
    this.runtime = runtime;
    this.platform = platform;
  }

  /** Starts one with the defaults of the suites; {@code runtime} and {@code platform} may change them. */
  static ContainerdPlatform start(String nodeId, Path data, UnaryOperator<ContainerdRuntime.Builder> runtime,
      UnaryOperator<ServerlessPlatform.Builder> platform) throws Exception {
    ContainerdFixture containerd = ContainerdFixture.start();
    ContainerdRuntime rt = null;
    try {
      rt = runtime.apply(ContainerdRuntime.builder().socket(containerd.socket()).namespace("extend-test")
          .nodeId(nodeId).dataDir(TestData.dataDir())).build();
      ServerlessPlatform p = platform.apply(ServerlessPlatform.builder()
          .dataDir(data)
          .nodeId(nodeId)
          .sandboxRuntime(rt)
          .sandboxLimits(128, 1000, 128, 32)
          .poolSize(2)
          .maxSandboxes(8)
          .sandboxWaitTimeout(Duration.ofSeconds(30))).build();
      p.pool().awaitWarm(Duration.ofSeconds(30));
      return new ContainerdPlatform(containerd, rt, p);
    } catch (Exception | Error e) {
      if (rt != null) {
        rt.close();
      }
      containerd.close();
      throw e;
    }
  }

  /** Invokes with a query; the answer (or its failure) within 60 s. */
  InvocationResponse invoke(WebhookRef ref, String query) throws Exception {
    try {
      return platform.invokeAsync(ref, InvocationRequest.builder().query(query).build()).get(60, TimeUnit.SECONDS);
    } catch (ExecutionException e) {
      throw e.getCause() instanceof Exception x ? x : new IllegalStateException(e.getCause());
    }
  }

  /** Invokes and returns the body of a 200 answer. */
  String call(WebhookRef ref, String query) throws Exception {
    try (InvocationResponse r = invoke(ref, query)) {
      String body = r.bodyText();
      assertThat(r.status()).as(body).isEqualTo(200);
      return body;
    }
  }

  @Override
  public void close() throws Exception {
    try {
      platform.close();
    } finally {
      try {
        runtime.close();
      } finally {
        containerd.close();
      }
    }
  }
}
