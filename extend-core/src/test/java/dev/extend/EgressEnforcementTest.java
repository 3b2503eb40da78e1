package dev.extend;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.extend.spi.EgressStore;
import dev.extend.spi.FunctionStore;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Egress policies reach sandboxes: before a sandbox's first code, on a change through this node
 * at once, through another node within the refresh bound, never with code loaded into a sandbox
 * whose policy could not be applied. With real Node on a runtime that records what it is told.
 */
class EgressEnforcementTest {
  private static final EgressPolicy PLATFORM = EgressPolicy.of("public", List.of("10.0.0.5:5432"));
  private static final String CODE = "module.exports = async () => ({ ok: true })";

  @TempDir Path dir;

  private ServerlessPlatform platform(Path data, EgressRecordingRuntime runtime, FunctionStore functions,
      EgressStore egress) {
    return PlatformTestSupport.builder(data).nodeId(data.getFileName().toString()).sandboxRuntime(runtime)
        .functionStore(functions).egressStore(egress).egress(PLATFORM).buildWorkers(0)
        .metadataRefresh(Duration.ofMillis(200)).build();
  }

  private static int call(ServerlessPlatform p, WebhookRef ref) {
    try (InvocationResponse r = p.invoke(ref, InvocationRequest.json("{}"))) {
      return r.status();
    }
  }

  @Test
  void theFirstCodeRunsUnderTheContainersPolicyAndAChangeHereAppliesAtOnce() throws Exception {
    EgressRecordingRuntime runtime = new EgressRecordingRuntime();
    try (ServerlessPlatform p = platform(dir.resolve("a"), runtime, FunctionStore.inMemory(), EgressStore.inMemory())) {
      assertThat(p.enforcesEgress()).isTrue();
      WebhookRef acme = WebhookRef.of("acme", "hook");
      WebhookRef globex = WebhookRef.of("globex", "hook");
      p.put(acme, WebhookSpec.builder(CODE).build());
      p.put(globex, WebhookSpec.builder(CODE).build());
      EgressPolicy own = EgressPolicy.of("allowlist", List.of("api.slack.com:443"));
      p.setEgressPolicy(acme.container(), own);

      assertThat(call(p, acme)).isEqualTo(200);
      assertThat(call(p, globex)).isEqualTo(200);

      EgressPolicy effective = EgressPolicy.of("allowlist", List.of("api.slack.com:443", "10.0.0.5:5432"));
      assertThat(p.egressPolicy(acme.container())).isEqualTo(effective);
      assertThat(p.storedEgressPolicy(acme.container())).contains(own);
      assertThat(runtime.appliedTo("acme")).singleElement().satisfies(a -> {
        assertThat(a.policy()).isEqualTo(effective);
        assertThat(a.codePresent()).as("no code in the sandbox before its policy").isFalse();
      });
      // globex has no policy of its own: the platform's default mode and its entries
      assertThat(runtime.appliedTo("globex")).singleElement().satisfies(a ->
          assertThat(a.policy()).isEqualTo(PLATFORM));
      assertThat(p.storedEgressPolicy(globex.container())).isEmpty();

      // warm calls apply nothing again
      assertThat(call(p, acme)).isEqualTo(200);
      assertThat(runtime.appliedTo("acme")).hasSize(1);

      // a change through this node reaches the running sandbox before the call returns
      p.setEgressPolicy(acme.container(), EgressPolicy.NONE);
      assertThat(runtime.appliedTo("acme")).last().satisfies(a -> assertThat(a.policy()).isEqualTo(EgressPolicy.NONE));
      assertThat(p.egressPolicy(acme.container())).as("none stays none").isEqualTo(EgressPolicy.NONE);

      p.resetEgressPolicy(acme.container());
      assertThat(runtime.appliedTo("acme")).last().satisfies(a -> assertThat(a.policy()).isEqualTo(PLATFORM));
      assertThat(p.storedEgressPolicy(acme.container())).isEmpty();
      assertThat(call(p, acme)).as("the same sandbox serves on").isEqualTo(200);
      assertThat(runtime.applied.stream().map(EgressRecordingRuntime.Applied::sandboxId).distinct()).hasSize(2);
    }
  }

  @Test
  void aChangeThroughOneNodeReachesTheOthersSandboxWithinTwoSeconds() throws Exception {
    FunctionStore functions = FunctionStore.inMemory();
    EgressStore egress = EgressStore.inMemory();
    EgressRecordingRuntime runtimeB = new EgressRecordingRuntime();
    try (ServerlessPlatform a = platform(dir.resolve("a"), new EgressRecordingRuntime(), functions, egress);
        ServerlessPlatform b = platform(dir.resolve("b"), runtimeB, functions, egress)) {
      WebhookRef ref = WebhookRef.of("acme", "hook");
      a.put(ref, WebhookSpec.builder(CODE).build());
      assertThat(call(b, ref)).isEqualTo(200);
      assertThat(runtimeB.appliedTo("acme")).singleElement().satisfies(x -> assertThat(x.policy()).isEqualTo(PLATFORM));

      long t0 = System.nanoTime();
      a.setEgressPolicy(ref.container(), EgressPolicy.NONE);
      await(() -> runtimeB.appliedTo("acme").size() == 2, Duration.ofSeconds(5));
      EgressRecordingRuntime.Applied changed = runtimeB.appliedTo("acme").get(1);
      assertThat(changed.policy()).isEqualTo(EgressPolicy.NONE);
      assertThat(Duration.ofNanos(changed.nanos() - t0)).isLessThan(Duration.ofSeconds(2));

      long t1 = System.nanoTime();
      a.resetEgressPolicy(ref.container());
      await(() -> runtimeB.appliedTo("acme").size() == 3, Duration.ofSeconds(5));
      EgressRecordingRuntime.Applied reset = runtimeB.appliedTo("acme").get(2);
      assertThat(reset.policy()).isEqualTo(PLATFORM);
      assertThat(Duration.ofNanos(reset.nanos() - t1)).isLessThan(Duration.ofSeconds(2));
      assertThat(reset.sandboxId()).as("applied to the running sandbox").isEqualTo(changed.sandboxId());
      assertThat(call(b, ref)).isEqualTo(200);
    }
  }

  @Test
  void aPolicyThatCannotBeAppliedLoadsNoCodeAndAnswers503() throws Exception {
    EgressRecordingRuntime runtime = new EgressRecordingRuntime();
    try (ServerlessPlatform p = platform(dir.resolve("a"), runtime, FunctionStore.inMemory(), EgressStore.inMemory())) {
      WebhookRef ref = WebhookRef.of("acme", "hook");
      p.put(ref, WebhookSpec.builder(CODE).build());
      runtime.fail = true;

      assertThatThrownBy(() -> call(p, ref)).isInstanceOfSatisfying(UnavailableException.class,
          e -> assertThat(e.status()).isEqualTo(503));
      String failed = runtime.appliedTo("acme").get(0).sandboxId();
      assertThat(runtime.appliedTo("acme")).allMatch(a -> !a.codePresent());
      await(() -> p.pool().stats().assigned() == 0, Duration.ofSeconds(10));
      assertThat(runtime.destroyedWithCode).as("the failed sandbox was recycled without code").doesNotContain(failed);

      runtime.fail = false;
      assertThat(call(p, ref)).isEqualTo(200);
      assertThat(runtime.appliedTo("acme")).last().satisfies(a -> assertThat(a.sandboxId()).isNotEqualTo(failed));
    }
  }

  /** A store that can be made unreachable. */
  private static final class FlakyEgressStore implements EgressStore {
    final EgressStore delegate = EgressStore.inMemory();
    volatile boolean down;

    private void check() {
      if (down) {
        throw new UnavailableException("test: egress store unreachable");
      }
    }

    @Override
    public java.util.Optional<dev.extend.spi.StoredEgressPolicy> get(ContainerName c) {
      check();
      return delegate.get(c);
    }

    @Override
    public dev.extend.spi.StoredEgressPolicy put(ContainerName c, EgressPolicy p) {
      check();
      return delegate.put(c, p);
    }

    @Override
    public boolean delete(ContainerName c) {
      check();
      return delegate.delete(c);
    }

    @Override
    public java.util.Map<ContainerName, Long> revisions(java.util.Collection<ContainerName> cs) {
      check();
      return delegate.revisions(cs);
    }
  }

  @Test
  void aStoreOutageKeepsTheLastKnownPolicies() throws Exception {
    EgressRecordingRuntime runtime = new EgressRecordingRuntime();
    FlakyEgressStore store = new FlakyEgressStore();
    try (ServerlessPlatform p = PlatformTestSupport.builder(dir.resolve("a")).sandboxRuntime(runtime)
        .egressStore(store).egress(PLATFORM).egressRefresh(Duration.ofMillis(100)).buildWorkers(0).build()) {
      WebhookRef acme = WebhookRef.of("acme", "hook");
      WebhookRef globex = WebhookRef.of("globex", "hook");
      p.put(acme, WebhookSpec.builder(CODE).build());
      p.put(globex, WebhookSpec.builder(CODE).build());
      p.setEgressPolicy(acme.container(), EgressPolicy.NONE);
      assertThat(call(p, acme)).isEqualTo(200);

      store.down = true;
      Thread.sleep(600);
      assertThat(call(p, acme)).as("warm calls go on").isEqualTo(200);
      assertThat(runtime.appliedTo("acme")).as("never back to the default").singleElement()
          .satisfies(a -> assertThat(a.policy()).isEqualTo(EgressPolicy.NONE));
      assertThatThrownBy(() -> call(p, globex)).as("a policy never read is not guessed")
          .isInstanceOf(UnavailableException.class);
      assertThat(runtime.appliedTo("globex")).isEmpty();

      store.down = false;
      store.delegate.put(acme.container(), EgressPolicy.PUBLIC); // as another node would
      await(() -> runtime.appliedTo("acme").size() == 2, Duration.ofSeconds(3));
      assertThat(runtime.appliedTo("acme").get(1).policy()).isEqualTo(EgressPolicy.PUBLIC.plus(PLATFORM.allow()));
      assertThat(call(p, globex)).isEqualTo(200);
    }
  }

  @Test
  void refusedConnectionsAreLinesOfTheContainersLog() throws Exception {
    EgressRecordingRuntime runtime = new EgressRecordingRuntime();
    try (ServerlessPlatform p = platform(dir.resolve("a"), runtime, FunctionStore.inMemory(), EgressStore.inMemory())) {
      ContainerName acme = ContainerName.of("acme");
      runtime.listener.denied(acme, "s1", "10.1.2.3:5432", "tcp");
      runtime.listener.denied(acme, "s1", "10.1.2.3:53", "udp");
      for (int i = 0; i < 50; i++) {
        runtime.listener.denied(acme, "s1", "10.9.9.9:80\n", "tcp"); // a flood is bounded
      }
      List<LogEvent> lines = p.recentLogs(acme, 100);
      assertThat(lines).extracting(LogEvent::message).startsWith("egress to 10.1.2.3:5432 denied by policy",
          "egress to 10.1.2.3:53 (udp) denied by policy");
      assertThat(lines).allSatisfy(e -> {
        assertThat(e.level()).isEqualTo(LogEvent.PLATFORM);
        assertThat(e.webhook()).isNull();
        assertThat(e.message()).doesNotContain("\n");
      });
      assertThat(lines.size()).as("at most 10 a second").isLessThanOrEqualTo(20);
      assertThat(p.recentLogs(ContainerName.of("globex"), 10)).isEmpty();
    }
  }

  @Test
  void deletingAContainerDeletesItsPolicy() throws Exception {
    EgressStore egress = EgressStore.inMemory();
    try (ServerlessPlatform p = platform(dir.resolve("a"), new EgressRecordingRuntime(), FunctionStore.inMemory(),
        egress)) {
      ContainerName acme = ContainerName.of("acme");
      p.setEgressPolicy(acme, EgressPolicy.NONE);
      p.deleteContainer(acme);
      assertThat(egress.get(acme)).isEmpty();
      assertThat(p.egressPolicy(acme)).isEqualTo(PLATFORM);
    }
  }

  @Test
  void theLocalRuntimeDoesNotEnforceAndIsNeverAsked() throws Exception {
    try (ServerlessPlatform p = PlatformTestSupport.builder(dir.resolve("l")).buildWorkers(0).build()) {
      assertThat(p.enforcesEgress()).isFalse();
      WebhookRef ref = WebhookRef.of("acme", "hook");
      p.put(ref, WebhookSpec.builder(CODE).build());
      p.setEgressPolicy(ref.container(), EgressPolicy.NONE);
      assertThat(call(p, ref)).isEqualTo(200);
      assertThat(p.storedEgressPolicy(ref.container())).contains(EgressPolicy.NONE);
      assertThat(p.platformEgressPolicy()).isEqualTo(EgressPolicy.PUBLIC);
    }
  }

  private static void await(BooleanSupplier condition, Duration max) throws InterruptedException {
    long deadline = System.nanoTime() + max.toNanos();
    while (!condition.getAsBoolean() && System.nanoTime() < deadline) {
      Thread.sleep(20);
    }
    assertThat(condition.getAsBoolean()).as("condition within " + max).isTrue();
  }
}
