package dev.extend;

import static org.assertj.core.api.Assertions.assertThat;

import dev.extend.spi.FunctionStore;
import dev.extend.spi.TokenStore;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Two nodes (two platforms over one store): a container deleted through one and created again
 * under the same name, with webhooks at the same version numbers, is never served from what the
 * other node still holds of the old one, neither its code and secrets (metadata cache) nor its
 * sandbox's memory.
 */
class ContainerReuseAcrossNodesTest {
  @TempDir Path dir;

  @Test
  void theOtherNodeServesOnlyTheNewContainerSoonAfter() throws Exception {
    FunctionStore functions = FunctionStore.inMemory();
    TokenStore tokens = TokenStore.inMemory();
    Path a = dir.resolve("a");
    Path b = dir.resolve("b");
    Duration bound = Duration.ofMillis(200);
    try (ServerlessPlatform nodeA = PlatformTestSupport.builder(a).nodeId("a").functionStore(functions)
            .tokenStore(tokens).metadataRefresh(bound).buildWorkers(0).build();
        ServerlessPlatform nodeB = PlatformTestSupport.builder(b).nodeId("b").functionStore(functions)
            .tokenStore(tokens).metadataRefresh(bound).sandboxWaitTimeout(Duration.ofSeconds(5)).buildWorkers(0)
            .build()) {
      WebhookRef ref = WebhookRef.of("acme", "hook");
      nodeA.put(ref, WebhookSpec.builder("module.exports = async (ctx) => { globalThis.left = 'old tenant'; "
          + "return { code: 'old', secret: ctx.secrets.S, left: globalThis.left }; }").secret("S", "old-secret").build());
      assertThat(call(nodeB, ref)).contains("old-secret").contains("\"left\":\"old tenant\"");

      nodeA.deleteContainer(ContainerName.of("acme"));
      // the new tenant's webhook is at version 1 again, like the old one node B still caches
      PutResult created = nodeA.put(ref, WebhookSpec.builder(
          "module.exports = async (ctx) => ({ code: 'new', secret: ctx.secrets.S || null, left: globalThis.left || null })")
          .secret("S", "new-secret").build());
      assertThat(created.webhook().version()).isEqualTo(1);

      long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
      String answer = call(nodeB, ref);
      while (!answer.contains("\"code\":\"new\"") && System.nanoTime() < deadline) {
        Thread.sleep(100);
        answer = call(nodeB, ref);
      }
      assertThat(answer).contains("\"code\":\"new\"").contains("new-secret").contains("\"left\":null");
      // and it stays so: no sandbox left with the old code marked as version 1
      long settled = System.nanoTime() + Duration.ofSeconds(8).toNanos();
      while (System.nanoTime() < settled) {
        assertThat(call(nodeB, ref)).contains("\"code\":\"new\"").contains("\"left\":null");
        Thread.sleep(200);
      }
    }
  }

  private static String call(ServerlessPlatform p, WebhookRef ref) {
    try (InvocationResponse r = p.invoke(ref, InvocationRequest.json("{}"))) {
      return r.bodyText();
    }
  }
}
