package dev.extend.bench;

import dev.extend.InvocationRequest;
import dev.extend.InvocationResponse;
import dev.extend.ModuleRef;
import dev.extend.ModuleState;
import dev.extend.ModuleStatus;
import dev.extend.PoolStats;
import dev.extend.ServerlessPlatform;
import dev.extend.WebhookRef;
import dev.extend.WebhookSpec;
import dev.extend.modulebuild.NpmModuleBuilder;
import dev.extend.server.ExtendServer;
import dev.extend.testing.LocalNpmRegistry;
import dev.extend.testing.NpmFixtures;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * The Extend benchmark: starts a platform and measures, in one run, a bare Node.js baseline,
 * warm invocations through {@code platform.invoke}, pooled and pool-empty cold starts, pool
 * refill and idle memory per sandbox, the embedded HTTP server, management calls and cold
 * starts with npm modules; then prints a table. See {@code extend-bench/README.md}.
 */
public final class Bench {
  private static final String HELLO_CODE = "module.exports = async () => '" + NodeBaseline.BODY + "';";
  private static final List<ModuleRef> MODULES = List.of(NpmFixtures.LEAF, NpmFixtures.TRANSITIVE, NpmFixtures.SCOPED);
  private static final String MODULES_CODE = "const leaf = require('ext-leaf'); const top = require('ext-top');"
      + " const greet = require('@extend-test/greeter');"
      + " module.exports = async () => [leaf.leaf(), top(), greet('bench')].join(' | ');";

  private final Options o;
  private final PrintStream progress;
  private final Table table = new Table();
  private Path dataDir;
  private Path platformDir;
  private boolean ownDataDir;
  private ServerlessPlatform platform;
  private Environment env;
  private NodeBaseline node;
  private LocalNpmRegistry registry;
  private int poolSize;

  // baseline figures the platform's are compared with (NaN when not measured)
  private double nodeUdsP50 = Double.NaN;
  private double nodeUdsP99 = Double.NaN;
  private double nodeUdsRps = Double.NaN;
  private double nodeTcpP50 = Double.NaN;
  private double nodeTcpRps = Double.NaN;
  private double nodeTcpWrkRps = Double.NaN;
  private double pooledColdP50 = Double.NaN;
  private String loadAtStart;

  private Bench(Options o, PrintStream progress) {
    this.o = o;
    this.progress = progress;
  }

  /**
   * Runs the bench from the command line and prints the table on standard output (progress
   * goes to standard error).
   *
   * @param args options, see {@code --help}
   */
  public static void main(String[] args) {
    Options o;
    try {
      o = Options.parse(args);
    } catch (IllegalArgumentException e) {
      System.err.println(e.getMessage());
      System.exit(2);
      return;
    }
    try {
      Table t = new Bench(o, System.err).run();
      t.print(System.out);
    } catch (Exception e) {
      e.printStackTrace();
      System.exit(1);
    }
    System.exit(0);
  }

  /**
   * Runs the bench with the given options and returns its table without printing it.
   *
   * @param args command-line options
   * @param progress where progress lines go
   * @return the measured table
   * @throws Exception when a stage cannot run
   */
  public static Table run(String[] args, PrintStream progress) throws Exception {
    return new Bench(Options.parse(args), progress).run();
  }

  private Table run() throws Exception {
    ownDataDir = o.dataDir == null;
    dataDir = ownDataDir ? Files.createTempDirectory("extend-bench-") : Files.createDirectories(o.dataDir);
    platformDir = dataDir.resolve("platform");
    String nodeId = "bench-" + HexFormat.of().toHexDigits((short) ThreadLocalRandom.current().nextInt());
    env = new Environment();
    loadAtStart = loadAverage();
    try {
      StringBuilder runtimeLog = new StringBuilder();
      env.runtime(o, nodeId, dataDir.resolve("runtime"), runtimeLog);
      if (!runtimeLog.isEmpty()) {
        say(runtimeLog.toString());
      }
      env.storage(o, dataDir);
      say("runtime: " + env.runtimeDescription + "; store: " + env.storeDescription);
      if (o.runs("baseline") || o.runs("http")) {
        node = NodeBaseline.start(o.node, dataDir.resolve("baseline"));
      }
      if (o.runs("baseline")) {
        baseline();
      }
      startPlatform(nodeId);
      if (o.runs("pool")) {
        pool();
      }
      if (o.runs("warm")) {
        warm();
      }
      if (o.runs("http")) {
        http();
      }
      if (o.runs("cold")) {
        cold();
      }
      if (o.runs("empty")) {
        empty();
      }
      if (o.runs("mgmt")) {
        management();
      }
      if (o.runs("flood")) {
        flood();
      }
      if (o.runs("modules")) {
        modules();
      }
      if (o.runs("egress")) {
        egress();
      }
      footer();
      return table;
    } finally {
      if (platform != null) {
        platform.close();
      }
      if (node != null) {
        node.close();
      }
      if (registry != null) {
        registry.close();
      }
      env.close();
      if (ownDataDir) {
        Environment.deleteTree(dataDir);
      }
    }
  }

  private void say(String line) {
    progress.println("[bench " + Instant.now().toString().substring(11, 19) + "] " + line);
    progress.flush();
  }

  // ---- platform -------------------------------------------------------------------------

  private void startPlatform(String nodeId) throws Exception {
    poolSize = o.quick ? 2 : 4;
    int max = poolSize + o.poolTarget + o.coldSamples + o.emptySamples + 2 * o.moduleSamples + 16;
    ServerlessPlatform.Builder b = ServerlessPlatform.builder()
        .dataDir(platformDir)
        .nodeId(nodeId)
        .sandboxRuntime(env.runtime)
        .runtimesDir(o.runtimesDir)
        .poolSize(poolSize)
        .maxSandboxes(max)
        .idleTimeout(Duration.ofHours(1))
        .sandboxWaitTimeout(Duration.ofSeconds(60));
    if (o.runs("modules")) {
      registry = LocalNpmRegistry.withFixtures();
      b.moduleBuilder(NpmModuleBuilder.builder().registry(registry.url()).timeout(Duration.ofMinutes(3)).build())
          .buildWorkers(3);
    } else {
      b.buildWorkers(0);
    }
    if (o.runs("egress")) {
      b.egress(dev.extend.EgressPolicy.PUBLIC.plus(dev.extend.EgressPolicy.parseList("egress", EgressStage.ALLOW)));
    }
    if (env.storage != null) {
      b.functionStore(env.storage.functionStore())
          .artifactStore(env.storage.artifactStore())
          .moduleStore(env.storage.moduleStore())
          .buildQueue(env.storage.buildQueue())
          .tokenStore(env.storage.tokenStore());
    }
    long t0 = System.nanoTime();
    platform = b.build();
    if (!platform.pool().awaitWarm(Duration.ofMinutes(3))) {
      throw new IllegalStateException("the pool did not warm up: " + platform.pool().stats()
          + " " + platform.readinessProblems());
    }
    say(String.format(Locale.ROOT, "platform up, %d warm sandboxes after %.0f ms (runtime %s)", poolSize,
        (System.nanoTime() - t0) / 1e6, platform.runtimeName()));
  }

  // ---- 1. baseline ------------------------------------------------------------------------

  private void baseline() throws Exception {
    say("baseline: bare node on 127.0.0.1:" + node.port() + " and " + node.socket());
    HttpLoad.Target tcp = HttpLoad.Target.tcp("bare node tcp", node.port(), "/");
    HttpLoad.Target uds = HttpLoad.Target.unix("bare node uds", node.socket(), "/");
    Samples s = HttpLoad.sequential(tcp, o.warmupRequests, o.requests);
    nodeTcpP50 = s.p50();
    table.add("node bare tcp: sequential p50", s.p50(), "ms", "1 keep-alive connection, " + s.size() + " requests");
    table.add("node bare tcp: sequential p99", s.p99(), "ms", null);
    HttpLoad.LoadResult r = HttpLoad.load(tcp, o.connections, o.loadWarmup, o.duration);
    nodeTcpRps = r.rps();
    table.add("node bare tcp: throughput", r.rps(), "req/s", o.connections + " connections, " + failures(r));
    s = HttpLoad.sequential(uds, o.warmupRequests, o.requests);
    nodeUdsP50 = s.p50();
    nodeUdsP99 = s.p99();
    table.add("node bare uds: sequential p50", s.p50(), "ms", null);
    table.add("node bare uds: sequential p99", s.p99(), "ms", null);
    r = HttpLoad.load(uds, o.connections, o.loadWarmup, o.duration);
    nodeUdsRps = r.rps();
    table.add("node bare uds: throughput", r.rps(), "req/s", o.connections + " connections, " + failures(r));
    if (o.wrk && Wrk.available()) {
      Wrk.Result w = Wrk.run("http://127.0.0.1:" + node.port() + "/", o.connections, o.duration);
      nodeTcpWrkRps = w.rps();
      table.add("node bare tcp: throughput (wrk)", w.rps(), "req/s", "wrk -t1 -c" + o.connections
          + ", p50 " + Table.format(w.p50Ms()) + " ms, p99 " + Table.format(w.p99Ms()) + " ms");
    }
  }

  private static String failures(HttpLoad.LoadResult r) {
    return failures(r.failed());
  }

  private static String failures(long failed) {
    return failed == 0 ? "no errors" : failed + " errors";
  }

  // ---- 2. warm invoke ---------------------------------------------------------------------

  private WebhookRef helloRef;

  /** Creates bench/bench-hello and makes its container warm. */
  private WebhookRef hello() {
    if (helloRef == null) {
      helloRef = WebhookRef.of("bench", "bench-hello");
      platform.put(helloRef, WebhookSpec.builder(HELLO_CODE).build());
      invokeOnce(helloRef);
    }
    return helloRef;
  }

  private String invokeOnce(WebhookRef ref) {
    try (InvocationResponse r = platform.invoke(ref, InvocationRequest.get())) {
      String body = r.bodyText();
      if (r.status() != 200) {
        throw new IllegalStateException(ref + " answered " + r.status() + ": " + body);
      }
      return body;
    }
  }

  private void warm() throws Exception {
    WebhookRef ref = hello();
    say("warm: platform.invoke, sequential then " + o.connections + " callers");
    // warm-up: a load run (so the JIT compiles the whole path), then sequential calls
    concurrentInvoke(ref, o.loadWarmup, null);
    for (int i = 0; i < o.warmupRequests; i++) {
      invokeOnce(ref);
    }
    Samples s = new Samples(o.requests);
    for (int i = 0; i < o.requests; i++) {
      long t0 = System.nanoTime();
      invokeOnce(ref);
      s.add(System.nanoTime() - t0);
    }
    table.add("warm invoke: sequential p50", s.p50(), "ms", ratio(s.p50(), nodeUdsP50), "vs bare node uds p50");
    table.add("warm invoke: sequential p99", s.p99(), "ms", ratio(s.p99(), nodeUdsP99), "vs bare node uds p99");
    Samples all = new Samples(1 << 16);
    double rps = concurrentInvoke(ref, o.duration, all);
    table.add("warm invoke: throughput", rps, "req/s", ratio(rps, nodeUdsRps),
        "vs bare node uds; " + o.connections + " caller threads, p50 " + Table.format(all.p50()) + " ms, p99 "
            + Table.format(all.p99()) + " ms");
  }

  /** N threads call platform.invoke in a loop for {@code duration}; returns requests/s. */
  private double concurrentInvoke(WebhookRef ref, Duration duration, Samples into) throws InterruptedException {
    int n = o.connections;
    Samples[] per = new Samples[n];
    long[] counts = new long[n];
    Throwable[] errors = new Throwable[n];
    Thread[] threads = new Thread[n];
    long start = System.nanoTime();
    long end = start + duration.toNanos();
    for (int i = 0; i < n; i++) {
      int k = i;
      per[k] = new Samples(4096);
      threads[k] = new Thread(() -> {
        try {
          long now = System.nanoTime();
          while (now < end) {
            invokeOnce(ref);
            long done = System.nanoTime();
            per[k].add(done - now);
            counts[k]++;
            now = done;
          }
        } catch (Throwable t) {
          errors[k] = t;
        }
      }, "bench-caller-" + i);
      threads[k].start();
    }
    for (Thread t : threads) {
      t.join();
    }
    double seconds = (System.nanoTime() - start) / 1e9;
    long total = 0;
    for (int i = 0; i < n; i++) {
      if (errors[i] != null) {
        throw new IllegalStateException("caller " + i + " failed", errors[i]);
      }
      total += counts[i];
      if (into != null) {
        into.addAll(per[i]);
      }
    }
    return total / seconds;
  }

  private static double ratio(double a, double b) {
    return a / b;
  }

  // ---- 6. embedded HTTP server --------------------------------------------------------------

  private void http() throws Exception {
    WebhookRef ref = hello();
    try (ExtendServer server = ExtendServer.builder(platform).port(0).host("127.0.0.1").build().start()) {
      String path = "/run/" + ref.container().value() + "/" + ref.name().value();
      say("http: embedded server on 127.0.0.1:" + server.port() + path);
      HttpLoad.Target viaServer = HttpLoad.Target.tcp("extend server", server.port(), path);
      Path socket = agentSocket(ref);
      long version = platform.get(ref).orElseThrow().version();
      HttpLoad.Target direct = HttpLoad.Target.unix("agent", socket, "/_extend/run/" + ref.name().value() + "/",
          "x-extend-version", Long.toString(version), "x-extend-invocation-id", "bench");

      // warm-up: load through the server first (the JIT compiles its path), then sequential runs
      HttpLoad.warmup(viaServer, o.connections, o.loadWarmup);
      Samples agent = HttpLoad.sequential(direct, o.warmupRequests, o.requests);
      Samples srv = HttpLoad.sequential(viaServer, o.warmupRequests, o.requests);
      if (Double.isNaN(nodeTcpP50)) {
        nodeTcpP50 = HttpLoad.sequential(HttpLoad.Target.tcp("bare node tcp", node.port(), "/"), o.warmupRequests,
            o.requests).p50();
      }
      table.add("agent direct uds: sequential p50", agent.p50(), "ms", "the sandbox's agent socket, no platform");
      table.add("agent direct uds: sequential p99", agent.p99(), "ms", null);
      table.add("http server: sequential p50", srv.p50(), "ms", ratio(srv.p50(), nodeTcpP50),
          "vs bare node tcp p50");
      table.add("http server: sequential p99", srv.p99(), "ms", null);
      double addedP50 = srv.p50() - agent.p50();
      double addedP99 = srv.p99() - agent.p99();
      table.add("http server: added p50 vs agent", addedP50, "ms", "goal <= 0.3 ms" + (addedP50 <= 0.3 ? " (met)" : " (missed)"));
      table.add("http server: added p99 vs agent", addedP99, "ms", "goal <= 2 ms" + (addedP99 <= 2 ? " (met)" : " (missed)"));

      // Server and bare node runs alternate, and the medians are compared: the machine's load
      // drifts over a run (other services, the JIT, the CPU's clock), and both sides see it alike.
      HttpLoad.Target bare = HttpLoad.Target.tcp("bare node tcp", node.port(), "/");
      List<HttpLoad.LoadResult> serverRuns = new ArrayList<>();
      List<Double> bareRuns = new ArrayList<>();
      for (int round = 0; round < o.rounds; round++) {
        serverRuns.add(HttpLoad.load(viaServer, o.connections, o.loadWarmup, o.duration));
        bareRuns.add(HttpLoad.load(bare, o.connections, o.loadWarmup, o.duration).rps());
      }
      serverRuns.sort(java.util.Comparator.comparingDouble(HttpLoad.LoadResult::rps));
      HttpLoad.LoadResult r = serverRuns.get(serverRuns.size() / 2);
      double bareMedian = bareRuns.stream().sorted().toList().get(bareRuns.size() / 2);
      table.add("http server: throughput", r.rps(), "req/s", ratio(r.rps(), bareMedian),
          "vs bare node tcp in the same rounds (goal >= 0.50); median of " + o.rounds + " alternating runs ("
              + serverRuns.stream().map(x -> Table.format(x.rps() / 1000) + "k").collect(java.util.stream.Collectors.joining(" "))
              + " vs node " + bareRuns.stream().map(x -> Table.format(x / 1000) + "k").collect(java.util.stream.Collectors.joining(" "))
              + "); " + o.connections + " connections, p50 " + Table.format(r.latencies().p50())
              + " ms, p99 " + Table.format(r.latencies().p99()) + " ms, "
              + failures(serverRuns.stream().mapToLong(HttpLoad.LoadResult::failed).sum()));
      HttpLoad.LoadResult ra = HttpLoad.load(direct, o.connections, o.loadWarmup, o.duration);
      table.add("agent direct uds: throughput", ra.rps(), "req/s", ratio(ra.rps(), nodeUdsRps),
          "vs bare node uds; " + failures(ra));
      if (o.wrk && Wrk.available()) {
        Wrk.Result w = Wrk.run("http://127.0.0.1:" + server.port() + path, o.connections, o.duration);
        if (Double.isNaN(nodeTcpWrkRps)) {
          nodeTcpWrkRps = Wrk.run("http://127.0.0.1:" + node.port() + "/", o.connections, o.duration).rps();
        }
        table.add("http server: throughput (wrk)", w.rps(), "req/s", ratio(w.rps(), nodeTcpWrkRps),
            "vs bare node tcp (wrk); p50 " + Table.format(w.p50Ms()) + " ms, p99 " + Table.format(w.p99Ms()) + " ms"
                + (w.non2xx() > 0 ? ", " + w.non2xx() + " non-2xx" : ""));
      }
    }
  }

  /** The agent socket of the sandbox holding {@code ref}'s code (found by its code directory). */
  private Path agentSocket(WebhookRef ref) throws IOException {
    try (Stream<Path> dirs = Files.list(platformDir.resolve("sandboxes"))) {
      List<Path> found = dirs.filter(d -> Files.isDirectory(d.resolve("code").resolve(ref.name().value()))).toList();
      if (found.size() != 1) {
        throw new IllegalStateException("expected one sandbox holding " + ref + ", found " + found);
      }
      return found.get(0).resolve("sock").resolve("agent.sock");
    }
  }

  // ---- 3. pooled cold start ---------------------------------------------------------------

  private void cold() throws Exception {
    say("cold: first call of " + o.coldSamples + " fresh containers, pool warm before each");
    Samples s = new Samples(o.coldSamples);
    int cold = 0;
    for (int i = -1; i < o.coldSamples; i++) { // sample -1 warms up the path
      awaitWarm();
      FirstCall c = firstCall("cold-" + (i + 1));
      if (i >= 0) {
        s.add(c.nanos());
        cold += c.cold() ? 1 : 0;
      }
    }
    pooledColdP50 = s.p50();
    table.add("pooled cold start: p50", s.p50(), "ms", cold + "/" + s.size() + " answered cold()=true");
    table.add("pooled cold start: p99", s.p99(), "ms", null);
  }

  /** How long the first call of a fresh container's webhook took, and whether it was cold. */
  private record FirstCall(long nanos, boolean cold) {}

  private FirstCall firstCall(String container) {
    WebhookRef ref = WebhookRef.of(container, "hello");
    platform.put(ref, WebhookSpec.builder(HELLO_CODE).build());
    long t0 = System.nanoTime();
    try (InvocationResponse r = platform.invoke(ref, InvocationRequest.get())) {
      r.bodyBytes();
      return new FirstCall(System.nanoTime() - t0, r.cold());
    }
  }

  private void awaitWarm() throws InterruptedException {
    if (!platform.pool().awaitWarm(Duration.ofMinutes(2))) {
      throw new IllegalStateException("pool did not refill: " + platform.pool().stats());
    }
    Thread.sleep(o.quick ? 20 : 100); // let the refill's process start settle off the measured call
  }

  // ---- 4. pool-empty cold start -------------------------------------------------------------

  /**
   * Outbound requests: the same sequence of keep-alive fetches to a test host of the bench's
   * own, once from inside a webhook's sandbox (through the egress network and its policy) and
   * once from the host.
   */
  private void egress() throws Exception {
    if (!platform.enforcesEgress()) {
      say("egress: skipped (the runtime enforces no egress policy)");
      return;
    }
    int n = o.quick ? 500 : 2000;
    int ms = o.quick ? 1000 : 3000;
    try (EgressStage stage = new EgressStage()) {
      stage.start();
      dev.extend.WebhookRef ref = dev.extend.WebhookRef.of("bench-egress", "fetch");
      platform.put(ref, WebhookSpec.builder(EgressStage.MEASURE + "\nmodule.exports = async () => JSON.stringify("
          + "await measure(" + n + ", 16, " + ms + "));").limits(new dev.extend.Limits(Duration.ofMinutes(2), 256))
          .build());
      com.fasterxml.jackson.databind.JsonNode inside;
      try (InvocationResponse r = platform.invoke(ref, InvocationRequest.builder().build())) {
        inside = new com.fasterxml.jackson.databind.ObjectMapper().readTree(r.bodyText());
      }
      com.fasterxml.jackson.databind.JsonNode host = new com.fasterxml.jackson.databind.ObjectMapper()
          .readTree(stage.measureFromHost(o.node, n, 16, ms));
      double inP50 = inside.path("p50").asDouble();
      double hostP50 = host.path("p50").asDouble();
      table.add("egress: webhook -> test host p50", inP50, "ms", n + " sequential keep-alive fetches in the sandbox");
      table.add("egress: webhook -> test host p99", inside.path("p99").asDouble(), "ms", null);
      table.add("egress: host -> test host p50", hostP50, "ms", "the same fetches from the host's node");
      table.add("egress: added p50", inP50 - hostP50, "ms", "bar: <= 0.5 ms");
      double inRps = inside.path("rps").asDouble();
      double hostRps = host.path("rps").asDouble();
      table.add("egress: webhook throughput", inRps, "req/s", ratio(inRps, hostRps), "16 concurrent fetch loops; x host");
      table.add("egress: host throughput", hostRps, "req/s", "bar: webhook >= 0.8 x host");
    }
  }

  private void empty() throws Exception {
    say("empty: first call of " + o.emptySamples + " fresh containers with no warm sandbox");
    platform.pool().setTargetWarm(0);
    Samples s = new Samples(o.emptySamples);
    int cold = 0;
    try {
      for (int i = -1; i < o.emptySamples; i++) {
        awaitDrained();
        FirstCall c = firstCall("empty-" + (i + 1));
        if (i >= 0) {
          s.add(c.nanos());
          cold += c.cold() ? 1 : 0;
        }
      }
    } finally {
      platform.pool().setTargetWarm(poolSize);
    }
    settle();
    table.add("pool-empty cold start: p50", s.p50(), "ms", ratio(s.p50(), pooledColdP50),
        "vs pooled cold p50; " + cold + "/" + s.size() + " cold()=true; sandbox started on demand");
    table.add("pool-empty cold start: p99", s.p99(), "ms", null);
  }

  private void awaitDrained() throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(1);
    while (System.nanoTime() < deadline) {
      PoolStats st = platform.pool().stats();
      if (st.warm() == 0 && st.starting() == 0) {
        Thread.sleep(o.quick ? 20 : 200);
        return;
      }
      Thread.sleep(10);
    }
    throw new IllegalStateException("pool did not drain: " + platform.pool().stats());
  }

  // ---- 5. refill rate and idle memory -------------------------------------------------------

  private void pool() throws Exception {
    int target = o.poolTarget;
    say("pool: drain, then refill to " + target + " warm sandboxes");
    platform.pool().setTargetWarm(0);
    awaitDrained();
    long t0 = System.nanoTime();
    platform.pool().setTargetWarm(target);
    if (!platform.pool().awaitWarm(Duration.ofMinutes(5))) {
      throw new IllegalStateException("pool did not refill to " + target + ": " + platform.pool().stats());
    }
    double seconds = (System.nanoTime() - t0) / 1e9;
    table.add("pool refill: empty to target", target / seconds, "sandboxes/s",
        target + " sandboxes in " + Table.format(seconds * 1000) + " ms");
    Thread.sleep(1000); // let the agents settle to idle
    Memory.Usage u;
    if (env.containerd()) {
      u = Memory.containerdSandboxes(Environment.NAMESPACE);
    } else {
      Set<Long> exclude = node == null ? Set.of() : Set.of(node.pid());
      u = Memory.localSandboxes(exclude);
    }
    PoolStats st = platform.pool().stats();
    String how = env.containerd()
        ? "shim + agent RSS / " + u.sandboxes() + " shims (" + u.processes() + " processes; shims "
            + Table.format(u.shimPerSandboxMib()) + " MiB each)"
        : "agent RSS / " + u.sandboxes() + " node children of this JVM";
    table.add("idle memory per sandbox", u.perSandboxMib(), "MiB", how + "; pool " + st.warm() + " warm, "
        + st.assigned() + " assigned");
    platform.pool().setTargetWarm(poolSize);
    settle();
  }

  /** Waits until the pool is back at its size and the surplus sandboxes are gone, so the next stage runs alone. */
  private void settle() throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(1);
    while (System.nanoTime() < deadline) {
      PoolStats st = platform.pool().stats();
      if (st.warm() == st.targetWarm() && st.starting() == 0) {
        break;
      }
      Thread.sleep(10);
    }
    // sandboxes are destroyed in the background (a containerd task takes a while to go)
    Thread.sleep(o.quick ? 200 : env.containerd() ? 5000 : 1000);
  }

  // ---- 7. management ------------------------------------------------------------------------

  private void management() {
    int n = o.mgmtSamples;
    say("mgmt: " + n + " creates, updates and gets on " + env.storeDescription);
    WebhookSpec v1 = WebhookSpec.builder(HELLO_CODE).secret("API_KEY", "k1").meta("plan", "gold").build();
    WebhookSpec v2 = WebhookSpec.builder(HELLO_CODE + " // v2").secret("API_KEY", "k2").meta("plan", "gold").build();
    // warm-up on other names, so the measured calls run compiled code and warm connections
    for (int i = 0; i < Math.max(20, n / 4); i++) {
      WebhookRef ref = WebhookRef.of("mgmt-warmup", "w" + i);
      platform.put(ref, v1);
      platform.put(ref, v2);
      platform.get(ref);
    }
    Samples create = new Samples(n);
    Samples update = new Samples(n);
    Samples get = new Samples(n);
    for (int i = 0; i < n; i++) {
      WebhookRef ref = WebhookRef.of("mgmt", "w" + i);
      long t0 = System.nanoTime();
      platform.put(ref, v1);
      create.add(System.nanoTime() - t0);
    }
    for (int i = 0; i < n; i++) {
      WebhookRef ref = WebhookRef.of("mgmt", "w" + i);
      long t0 = System.nanoTime();
      platform.put(ref, v2);
      update.add(System.nanoTime() - t0);
    }
    for (int i = 0; i < n; i++) {
      WebhookRef ref = WebhookRef.of("mgmt", "w" + i);
      long t0 = System.nanoTime();
      if (platform.get(ref).isEmpty()) {
        throw new IllegalStateException(ref + " vanished");
      }
      get.add(System.nanoTime() - t0);
    }
    String store = env.storage == null ? "in-memory store" : env.storage.databaseName();
    table.add("webhook create: p50", create.p50(), "ms", store + "; p99 " + Table.format(create.p99()) + " ms");
    table.add("webhook update: p50", update.p50(), "ms", "p99 " + Table.format(update.p99()) + " ms");
    table.add("webhook get: p50", get.p50(), "ms", "p99 " + Table.format(get.p99()) + " ms");
  }

  // ---- 8. management API during a slow-body flood ------------------------------------------

  private static final String FLOOD_ADMIN = "bench-admin-token-0123456789";

  /**
   * The management API's latency (a webhook list on a new connection per call, as curl makes)
   * while {@code --flood-connections} clients trickle request bodies to {@code /run}: first on
   * one port, then with the management listener on a port of its own.
   */
  private void flood() throws Exception {
    WebhookRef ref = hello();
    String run = "/run/" + ref.container().value() + "/" + ref.name().value();
    String list = "GET /api/v1/containers/" + ref.container().value() + "/webhooks HTTP/1.1\r\nHost: localhost\r\n"
        + "Authorization: Bearer " + FLOOD_ADMIN + "\r\nConnection: close\r\n\r\n";
    int n = o.floodConnections;
    for (boolean ownPort : new boolean[] {false, true}) {
      String where = ownPort ? "management port" : "one port";
      ExtendServer.Builder b = ExtendServer.builder(platform).port(0).host("127.0.0.1").adminToken(FLOOD_ADMIN)
          // the flood comes from one address: let all of it in, to measure the thread budgets
          .maxConnectionsPerAddress(2 * n + 64);
      if (ownPort) {
        b.managementPort(0);
      }
      try (ExtendServer server = b.build().start()) {
        int api = ownPort ? server.managementPort() : server.port();
        Samples quiet = new Samples(64);
        for (int i = 0; i < (o.quick ? 20 : 100); i++) {
          quiet.add(timedCall(api, list));
        }
        say("flood: " + n + " slow-body connections to " + run + " for " + o.floodDuration.toSeconds()
            + " s; management API on " + where);
        Samples during = new Samples(256);
        long worst = 0;
        long cut;
        long answered408;
        long opened;
        try (SlowBodyFlood flood = SlowBodyFlood.start(server.port(), run, n)) {
          long end = System.nanoTime() + o.floodDuration.toNanos();
          while (System.nanoTime() < end) {
            long t = timedCall(api, list);
            during.add(t);
            worst = Math.max(worst, t);
            Thread.sleep(50);
          }
          cut = flood.cut();
          answered408 = flood.answered408();
          opened = flood.opened();
        }
        String notes = during.size() + " calls, p99 " + Table.format(during.p99()) + " ms, max "
            + Table.format(worst / 1e6) + " ms; quiet p50 " + Table.format(quiet.p50()) + " ms; " + cut
            + " slow requests cut (" + answered408 + " answered 408), " + opened + " connections opened";
        table.add("mgmt API in slow-body flood, " + where + ": p50", during.p50(), "ms", notes);
        table.add("mgmt API in slow-body flood, " + where + ": max", worst / 1e6, "ms", null);
      }
    }
  }

  /** One request on a new connection; its time in nanoseconds, or fails when it is not answered 200 within 10 s. */
  private static long timedCall(int port, String request) throws java.io.IOException {
    long t0 = System.nanoTime();
    try (java.net.Socket s = new java.net.Socket()) {
      s.connect(new java.net.InetSocketAddress("127.0.0.1", port), 10_000);
      s.setSoTimeout(10_000);
      s.getOutputStream().write(request.getBytes(java.nio.charset.StandardCharsets.ISO_8859_1));
      byte[] all = s.getInputStream().readAllBytes();
      String status = new String(all, 0, Math.min(12, all.length), java.nio.charset.StandardCharsets.ISO_8859_1);
      if (!status.equals("HTTP/1.1 200")) {
        throw new IllegalStateException("the management API answered '" + status + "'");
      }
    }
    return System.nanoTime() - t0;
  }

  // ---- 9. modules ---------------------------------------------------------------------------

  private void modules() throws Exception {
    say("modules: building " + MODULES + " with npm from a local registry");
    WebhookSpec spec = moduleSpec();
    WebhookRef first = WebhookRef.of("mods-0", "mods");
    long t0 = System.nanoTime();
    platform.put(first, spec);
    for (ModuleRef m : MODULES) {
      awaitReady(m);
    }
    double buildSeconds = (System.nanoTime() - t0) / 1e9;
    table.add("module builds: 3 modules ready", buildSeconds, "s",
        "npm install from a local registry, 3 build workers, packed + stored");
    awaitWarm();
    String body = invokeOnce(first); // unpacks the three on this host
    if (!body.contains("top>mid>leaf") || !body.contains("hello bench")) {
      throw new IllegalStateException("unexpected answer of the modules webhook: " + body);
    }
    Samples onHost = new Samples(o.moduleSamples);
    Samples offHost = new Samples(o.moduleSamples);
    for (int i = 0; i < o.moduleSamples; i++) {
      onHost.add(coldWithModules(WebhookRef.of("mods-on-" + i, "mods"), spec, false));
      offHost.add(coldWithModules(WebhookRef.of("mods-off-" + i, "mods"), spec, true));
    }
    table.add("pooled cold, 3 modules on host: p50", onHost.p50(), "ms", ratio(onHost.p50(), pooledColdP50),
        "vs pooled cold without modules; p99 " + Table.format(onHost.p99()) + " ms");
    table.add("pooled cold, 3 modules not on host: p50", offHost.p50(), "ms", ratio(offHost.p50(), pooledColdP50),
        "vs pooled cold without modules; artifact fetch + unpack; p99 " + Table.format(offHost.p99()) + " ms");
  }

  private static WebhookSpec moduleSpec() {
    WebhookSpec.Builder b = WebhookSpec.builder(MODULES_CODE);
    for (ModuleRef m : MODULES) {
      b.dependency(m.name(), m.version());
    }
    return b.build();
  }

  private long coldWithModules(WebhookRef ref, WebhookSpec spec, boolean removeFromHost) throws Exception {
    awaitWarm();
    platform.put(ref, spec);
    if (removeFromHost) {
      // Drop the unpacked copies so this call fetches each artifact from the store and unpacks
      // it, as on a host that never ran these modules.
      // (Module directories are named by a keyed hash: the bench's platform holds only these.)
      try (java.util.stream.Stream<Path> dirs = Files.list(platformDir.resolve("modules"))) {
        for (Path dir : (Iterable<Path>) dirs::iterator) {
          if (dir.getFileName().toString().startsWith(".") || !Files.isDirectory(dir)) {
            continue;
          }
          Environment.deleteTree(dir);
          if (Files.exists(dir)) {
            throw new IllegalStateException("could not remove " + dir);
          }
        }
      }
    }
    long t0 = System.nanoTime();
    try (InvocationResponse r = platform.invoke(ref, InvocationRequest.get())) {
      String body = new String(r.bodyBytes(), StandardCharsets.UTF_8);
      long dt = System.nanoTime() - t0;
      if (r.status() != 200 || !r.cold() || !body.contains("top>mid>leaf")) {
        throw new IllegalStateException(ref + " answered " + r.status() + " cold=" + r.cold() + ": " + body);
      }
      return dt;
    }
  }

  private void awaitReady(ModuleRef m) throws Exception {
    long end = System.nanoTime() + TimeUnit.MINUTES.toNanos(3);
    while (System.nanoTime() < end) {
      ModuleStatus s = platform.module(m).orElseThrow();
      if (s.state() == ModuleState.READY) {
        return;
      }
      if (s.state() == ModuleState.FAILED) {
        throw new IllegalStateException("module " + m + " failed to build:\n" + s.log());
      }
      Thread.sleep(20);
    }
    throw new IllegalStateException("module " + m + " was not built within 3 minutes");
  }

  // ---- footer -----------------------------------------------------------------------------------

  private void footer() {
    int cores = Runtime.getRuntime().availableProcessors();
    table.note("runtime: " + env.runtimeDescription + "; store: " + env.storeDescription);
    table.note("client: the bench's own HTTP/1.1 client (keep-alive, one request in flight per connection, "
        + "N connections driven by one selector thread, no allocation per request) for every HTTP figure"
        + (o.wrk && Wrk.available() ? "; '(wrk)' rows: " + Wrk.version() + " -t1" : "")
        + "; in-process figures: caller threads calling platform.invoke and reading the whole body");
    table.note("load runs: " + Table.format(o.duration.toMillis() / 1000.0) + " s after "
        + Table.format(o.loadWarmup.toMillis() / 1000.0) + " s warm-up; sequential runs: " + o.requests
        + " requests after " + o.warmupRequests + " warm-up" + (o.quick ? " (--quick: small samples, figures are rough)" : ""));
    table.note("modules: ext-leaf@1.0.0, ext-top@1.0.0 (ext-top > ext-mid > ext-leaf), @extend-test/greeter@1.0.0, "
        + "built by NpmModuleBuilder from the bundled fixture packages served by a local npm registry; "
        + "'not on host': the host's unpacked copies are deleted before each call");
    table.note(String.format(Locale.ROOT, "machine: %d cores (client, server, sandboxes and node share them%s), "
        + "Java %s, node %s, %s", cores, cores <= 2 ? "; on 2 cores the client takes CPU from the server" : "",
        System.getProperty("java.version"), nodeVersion(), Instant.now().toString().substring(0, 19) + "Z"));
    String loadAtEnd = loadAverage();
    boolean busy = firstLoad(loadAtStart) > cores || firstLoad(loadAtEnd) > cores;
    table.note("load average (1/5/15 min) at start: " + loadAtStart + ", at end: " + loadAtEnd
        + (busy ? " (above the core count: other processes competed for the CPU, figures are noisy)" : ""));
  }

  private static double firstLoad(String loadAverage) {
    try {
      return Double.parseDouble(loadAverage.split(" ")[0]);
    } catch (RuntimeException e) {
      return 0;
    }
  }

  private static String loadAverage() {
    try {
      String[] f = Files.readString(Path.of("/proc/loadavg")).split(" ");
      return f[0] + " " + f[1] + " " + f[2];
    } catch (IOException | RuntimeException e) {
      return "unknown";
    }
  }

  private String nodeVersion() {
    try {
      Process p = new ProcessBuilder(o.node.toString(), "--version").redirectErrorStream(true).start();
      String v = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
      p.waitFor(5, TimeUnit.SECONDS);
      return v;
    } catch (IOException e) {
      return "?";
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return "?";
    }
  }

  /** For the smoke test: every metric the full run prints. */
  static List<String> allMetrics(boolean wrk) {
    List<String> m = new ArrayList<>(List.of(
        "node bare tcp: sequential p50", "node bare tcp: sequential p99", "node bare tcp: throughput",
        "node bare uds: sequential p50", "node bare uds: sequential p99", "node bare uds: throughput",
        "pool refill: empty to target", "idle memory per sandbox",
        "warm invoke: sequential p50", "warm invoke: sequential p99", "warm invoke: throughput",
        "agent direct uds: sequential p50", "agent direct uds: sequential p99",
        "http server: sequential p50", "http server: sequential p99",
        "http server: added p50 vs agent", "http server: added p99 vs agent",
        "http server: throughput", "agent direct uds: throughput",
        "pooled cold start: p50", "pooled cold start: p99",
        "pool-empty cold start: p50", "pool-empty cold start: p99",
        "webhook create: p50", "webhook update: p50", "webhook get: p50",
        "mgmt API in slow-body flood, one port: p50", "mgmt API in slow-body flood, one port: max",
        "mgmt API in slow-body flood, management port: p50", "mgmt API in slow-body flood, management port: max",
        "module builds: 3 modules ready",
        "pooled cold, 3 modules on host: p50", "pooled cold, 3 modules not on host: p50"));
    if (wrk) {
      m.add("node bare tcp: throughput (wrk)");
      m.add("http server: throughput (wrk)");
    }
    return m;
  }
}
