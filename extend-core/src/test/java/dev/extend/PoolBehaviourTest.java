package dev.extend;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Pool exhaustion, idle eviction, eviction at the cap, isolation of containers, logs. */
class PoolBehaviourTest {
  @TempDir Path data;

  private static final String HELLO = "module.exports = async (ctx) => ({c: ctx.webhook.container, pid: process.pid})";

  @Test
  void emptyPoolWaitsForAFreshSandboxInsteadOfFailing() throws Exception {
    try (ServerlessPlatform p = PlatformTestSupport.builder(data).poolSize(0).maxSandboxes(4).build()) {
      WebhookRef ref = WebhookRef.of("first", "h");
      p.put(ref, WebhookSpec.builder(HELLO).build());
      try (InvocationResponse r = p.invoke(ref, InvocationRequest.get())) {
        assertThat(r.status()).isEqualTo(200);
        assertThat(r.cold()).isTrue();
      }
      assertThat(p.pool().stats().assigned()).isEqualTo(1);
    }
  }

  @Test
  void containersNeverShareASandboxAndWebhooksOfOneContainerDo() {
    try (ServerlessPlatform p = PlatformTestSupport.builder(data).poolSize(2).build()) {
      WebhookRef a1 = WebhookRef.of("tenant-a", "one");
      WebhookRef a2 = WebhookRef.of("tenant-a", "two");
      WebhookRef b1 = WebhookRef.of("tenant-b", "one");
      for (WebhookRef r : List.of(a1, a2, b1)) {
        p.put(r, WebhookSpec.builder(HELLO).build());
      }
      String pa1 = p.invoke(a1, InvocationRequest.get()).bodyText();
      String pa2 = p.invoke(a2, InvocationRequest.get()).bodyText();
      String pb1 = p.invoke(b1, InvocationRequest.get()).bodyText();
      assertThat(pid(pa1)).isEqualTo(pid(pa2));
      assertThat(pid(pb1)).isNotEqualTo(pid(pa1));
    }
  }

  @Test
  void atTheCapTheLeastRecentlyUsedIdleSandboxIsReclaimed() throws Exception {
    try (ServerlessPlatform p = PlatformTestSupport.builder(data).poolSize(0).maxSandboxes(2).build()) {
      List<WebhookRef> refs = new ArrayList<>();
      for (String c : List.of("c1", "c2", "c3")) {
        WebhookRef r = WebhookRef.of(c, "h");
        p.put(r, WebhookSpec.builder(HELLO).build());
        refs.add(r);
      }
      String first = p.invoke(refs.get(0), InvocationRequest.get()).bodyText();
      p.invoke(refs.get(1), InvocationRequest.get()).bodyText();
      // c3 needs a sandbox; the node is at its cap: c1's (least recently used) is reclaimed
      try (InvocationResponse r = p.invoke(refs.get(2), InvocationRequest.get())) {
        assertThat(r.status()).isEqualTo(200);
      }
      assertThat(p.pool().stats().assigned()).isLessThanOrEqualTo(2);
      // c1 comes back in a new sandbox
      try (InvocationResponse r = p.invoke(refs.get(0), InvocationRequest.get())) {
        assertThat(pid(r.bodyText())).isNotEqualTo(pid(first));
        assertThat(r.cold()).isTrue();
      }
    }
  }

  @Test
  void busyNodeAtCapAnswers503AfterTheWait() {
    try (ServerlessPlatform p = PlatformTestSupport.builder(data).poolSize(0).maxSandboxes(1)
        .sandboxWaitTimeout(Duration.ofMillis(1500)).build()) {
      WebhookRef slow = WebhookRef.of("busy", "h");
      WebhookRef other = WebhookRef.of("other", "h");
      p.put(slow, WebhookSpec.builder("module.exports = (ctx, cb) => setTimeout(() => cb(null, 'done'), 4000)").build());
      p.put(other, WebhookSpec.builder(HELLO).build());
      CompletableFuture<InvocationResponse> running = p.invokeAsync(slow, InvocationRequest.get());
      awaitAssigned(p, 1);
      assertThatThrownBy(() -> p.invoke(other, InvocationRequest.get()))
          .isInstanceOf(UnavailableException.class).hasMessageContaining("no sandbox became available");
      assertThat(running.join().bodyText()).isEqualTo("done");
    }
  }

  @Test
  void idleSandboxesAreReclaimed() throws Exception {
    try (ServerlessPlatform p = PlatformTestSupport.builder(data).poolSize(0).idleTimeout(Duration.ofMillis(400)).build()) {
      WebhookRef ref = WebhookRef.of("idle", "h");
      p.put(ref, WebhookSpec.builder(HELLO).build());
      p.invoke(ref, InvocationRequest.get()).bodyText();
      assertThat(p.pool().stats().assigned()).isEqualTo(1);
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
      while (p.pool().stats().assigned() > 0 && System.nanoTime() < deadline) {
        Thread.sleep(50);
      }
      assertThat(p.pool().stats().assigned()).isZero();
      try (InvocationResponse r = p.invoke(ref, InvocationRequest.get())) {
        assertThat(r.cold()).isTrue();
      }
    }
  }

  @Test
  void poolRefillsAfterAssignmentAndFollowsItsTarget() throws Exception {
    try (ServerlessPlatform p = PlatformTestSupport.builder(data).poolSize(2).build()) {
      assertThat(p.pool().awaitWarm(Duration.ofSeconds(20))).isTrue();
      WebhookRef ref = WebhookRef.of("refill", "h");
      p.put(ref, WebhookSpec.builder(HELLO).build());
      p.invoke(ref, InvocationRequest.get()).bodyText();
      assertThat(p.pool().awaitWarm(Duration.ofSeconds(20))).isTrue();
      assertThat(p.pool().stats().warm()).isEqualTo(2);
      p.pool().setTargetWarm(4);
      assertThat(p.pool().awaitWarm(Duration.ofSeconds(20))).isTrue();
      assertThat(p.pool().stats().warm()).isEqualTo(4);
    }
  }

  @Test
  void consoleOutputReachesListenersWithItsInvocation() throws Exception {
    List<LogEvent> seen = new CopyOnWriteArrayList<>();
    try (ServerlessPlatform p = PlatformTestSupport.builder(data).poolSize(1).logListener(seen::add).build()) {
      WebhookRef ref = WebhookRef.of("chatty", "h");
      p.put(ref, WebhookSpec.builder("module.exports = async (ctx) => { console.log('hello %s', ctx.body.who);"
          + " console.error('oops'); setTimeout(() => { throw new Error('late boom'); }, 1); return 'ok'; }").build());
      List<LogEvent> subscribed = new CopyOnWriteArrayList<>();
      try (AutoCloseable sub = p.subscribeLogs(ref.container(), subscribed::add)) {
        assertThat(p.invoke(ref, InvocationRequest.json("{\"who\":\"world\"}")).bodyText()).isEqualTo("ok");
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (subscribed.size() < 3 && System.nanoTime() < deadline) {
          Thread.sleep(20);
        }
      }
      assertThat(subscribed).extracting(LogEvent::message).contains("hello world", "oops");
      LogEvent hello = subscribed.stream().filter(e -> e.message().equals("hello world")).findFirst().orElseThrow();
      assertThat(hello.webhook()).isEqualTo("h");
      assertThat(hello.invocationId()).isNotBlank();
      assertThat(hello.level()).isEqualTo("log");
      assertThat(subscribed).anySatisfy(e -> assertThat(e.message()).contains("late boom"));
      assertThat(seen).extracting(LogEvent::message).contains("hello world");
      assertThat(p.recentLogs(ref.container(), 10)).extracting(LogEvent::message).contains("hello world");
      // the uncaught error in a timer did not take the agent down
      assertThat(p.invoke(ref, InvocationRequest.json("{\"who\":\"again\"}")).cold()).isFalse();
    }
  }

  /**
   * A webhook writes raw JSON lines to stdout that claim to come from another container's
   * invocation, from a made-up one, or from another webhook under its own invocation id: none is
   * attributed (they show as raw output of its own container); its console output is. (Webhooks
   * of one container share a process, so within a container lines name only invocations the host
   * sent to that very sandbox.)
   */
  @Test
  void logLinesCannotForgeWhereTheyCameFrom() throws Exception {
    try (ServerlessPlatform p = PlatformTestSupport.builder(data).poolSize(2).build()) {
      WebhookRef victim = WebhookRef.of("victim-co", "victim");
      WebhookRef forger = WebhookRef.of("forger-co", "forger");
      p.put(victim, WebhookSpec.builder("module.exports = async () => { console.log('real victim line'); return 'v'; }")
          .build());
      List<LogEvent> victimLines = new CopyOnWriteArrayList<>();
      List<LogEvent> forgerLines = new CopyOnWriteArrayList<>();
      try (AutoCloseable a = p.subscribeLogs(victim.container(), victimLines::add);
          AutoCloseable b = p.subscribeLogs(forger.container(), forgerLines::add)) {
        try (InvocationResponse r = p.invoke(victim, InvocationRequest.get())) {
          assertThat(r.bodyText()).isEqualTo("v");
        }
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (victimLines.isEmpty() && System.nanoTime() < deadline) {
          Thread.sleep(20);
        }
        String victimInvocation = victimLines.get(0).invocationId();
        p.put(forger, WebhookSpec.builder(String.join("\n",
            "const fs = require('fs');",
            "module.exports = async (ctx) => {",
            "  const forged = (i, w, m) => JSON.stringify({ t: 0, l: 'error', i, w, m }) + '\\n';",
            "  process.stdout.write(forged(ctx.query.inv, 'victim', 'forged: another container'));",
            "  fs.writeSync(1, forged('0123456789abcdef', 'forger', 'forged: a made-up invocation'));",
            "  fs.writeSync(1, forged(ctx.invocationId, 'someone-else', 'forged: another webhook'));",
            "  console.log('real forger line');",
            "  return 'f';",
            "};")).build());
        try (InvocationResponse r = p.invoke(forger, InvocationRequest.builder().query("inv=" + victimInvocation).build())) {
          assertThat(r.bodyText()).isEqualTo("f");
        }
        deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (forgerLines.size() < 4 && System.nanoTime() < deadline) {
          Thread.sleep(20);
        }
        Thread.sleep(200);
      }
      assertThat(victimLines).extracting(LogEvent::message).containsExactly("real victim line");
      assertThat(forgerLines).filteredOn(e -> e.message().contains("forged")).hasSize(3).allSatisfy(e -> {
        assertThat(e.webhook()).as(e.toString()).isNull();
        assertThat(e.invocationId()).as(e.toString()).isNull();
        assertThat(e.level()).isEqualTo("stdout");
      });
      LogEvent real = forgerLines.stream().filter(e -> e.message().equals("real forger line")).findFirst().orElseThrow();
      assertThat(real.webhook()).isEqualTo("forger");
      assertThat(real.invocationId()).isNotBlank();
    }
  }

  @Test
  void manyConcurrentInvocationsOverManyContainers() {
    try (ServerlessPlatform p = PlatformTestSupport.builder(data).poolSize(4).maxSandboxes(12).build()) {
      List<WebhookRef> refs = new ArrayList<>();
      for (int i = 0; i < 10; i++) {
        WebhookRef r = WebhookRef.of("conc-" + i, "h");
        p.put(r, WebhookSpec.builder(HELLO).build());
        refs.add(r);
      }
      List<CompletableFuture<Integer>> all = new ArrayList<>();
      for (int i = 0; i < 200; i++) {
        all.add(p.invokeAsync(refs.get(i % refs.size()), InvocationRequest.get()).thenApply(r -> {
          r.bodyBytes();
          return r.status();
        }));
      }
      assertThat(all).allSatisfy(f -> assertThat(f.join()).isEqualTo(200));
      assertThat(p.pool().stats().assigned()).isEqualTo(10);
    }
  }

  private static void awaitAssigned(ServerlessPlatform p, int n) {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (p.pool().stats().assigned() < n && System.nanoTime() < deadline) {
      Thread.onSpinWait();
    }
  }

  private static String pid(String json) {
    return json.replaceAll(".*\"pid\":(\\d+).*", "$1");
  }
}
