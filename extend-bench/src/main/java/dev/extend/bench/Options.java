package dev.extend.bench;

import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/** Command-line options of the bench. */
final class Options {
  /** Every stage, in the order they run. */
  static final List<String> STAGES = List.of("baseline", "pool", "warm", "http", "cold", "empty", "mgmt", "flood", "modules", "egress");

  String runtime = "auto";
  boolean quick;
  Set<String> only = new LinkedHashSet<>(STAGES);
  String jdbc = "memory";
  int connections = 16;
  Duration duration = Duration.ofSeconds(10);
  Duration loadWarmup = Duration.ofSeconds(2);
  int rounds = 3;
  int requests = 5000;
  int warmupRequests = 2000;
  int coldSamples = 20;
  int emptySamples = 8;
  int poolTarget = 8;
  int mgmtSamples = 300;
  int moduleSamples = 8;
  int floodConnections = 420;
  Duration floodDuration = Duration.ofSeconds(15);
  boolean wrk = true;
  Path dataDir;
  /** The bare-node baseline's node; null: the platform default runtime's own, as the sandboxes run it. */
  Path node;
  /** Where the platform's runtime distributions are kept between runs. */
  Path runtimesDir = Path.of("/var/cache/extend-bench/runtimes");

  static final String USAGE = String.join("\n",
      "usage: java -jar extend-bench/target/extend-bench.jar [options]",
      "  --runtime local|containerd|auto   sandbox runtime (default auto: containerd when usable, else local)",
      "  --quick                           small sample sizes (CI smoke run, well under a minute)",
      "  --only s1,s2,...                  stages: " + String.join(",", STAGES),
      "  --jdbc memory|h2|mysql://[user[:password]@]host[:port]   store for management calls and modules",
      "  --connections N                   concurrent connections / callers for throughput (default 16)",
      "  --duration SECONDS                length of each throughput run (default 10)",
      "  --rounds N                        alternating server / bare node throughput runs, median kept (default 3)",
      "  --requests N                      sequential requests per latency run (default 5000)",
      "  --cold-samples N                  pooled cold starts (default 20)",
      "  --empty-samples N                 cold starts with an empty pool (default 8)",
      "  --pool-target N                   sandboxes started by the refill measurement (default 8)",
      "  --mgmt-samples N                  management calls of each kind (default 300)",
      "  --module-samples N                cold starts of each module case (default 8)",
      "  --flood-connections N             slow-body connections of the flood stage (default 420)",
      "  --flood-seconds S                 length of each flood (default 15)",
      "  --no-wrk                          do not cross-check TCP throughput with wrk",
      "  --data-dir DIR                    platform data directory (default: a temp dir, removed after)",
      "  --node PATH                       node binary of the bare baseline (default: the default runtime's)",
      "  --runtimes-dir DIR                where runtime distributions are kept (default /var/cache/extend-bench/runtimes)");

  static Options parse(String[] args) {
    Options o = new Options();
    for (String a : args) {
      if (a.equals("--quick")) {
        o.quick();
      }
    }
    for (int i = 0; i < args.length; i++) {
      String a = args[i];
      switch (a) {
        case "--quick" -> { }
        case "--no-wrk" -> o.wrk = false;
        case "--runtime" -> {
          o.runtime = value(args, ++i, a).toLowerCase(Locale.ROOT);
          if (!Set.of("local", "containerd", "auto").contains(o.runtime)) {
            throw new IllegalArgumentException("--runtime must be local, containerd or auto, was " + o.runtime);
          }
        }
        case "--only" -> {
          o.only = new LinkedHashSet<>();
          for (String s : value(args, ++i, a).split(",")) {
            String stage = s.strip().toLowerCase(Locale.ROOT);
            if (!STAGES.contains(stage)) {
              throw new IllegalArgumentException("--only: unknown stage '" + stage + "'; stages: " + STAGES);
            }
            o.only.add(stage);
          }
        }
        case "--jdbc" -> o.jdbc = value(args, ++i, a);
        case "--connections" -> o.connections = positive(args, ++i, a);
        case "--duration" -> o.duration = Duration.ofMillis((long) (Double.parseDouble(value(args, ++i, a)) * 1000));
        case "--requests" -> o.requests = positive(args, ++i, a);
        case "--rounds" -> o.rounds = positive(args, ++i, a);
        case "--cold-samples" -> o.coldSamples = positive(args, ++i, a);
        case "--empty-samples" -> o.emptySamples = positive(args, ++i, a);
        case "--pool-target" -> o.poolTarget = positive(args, ++i, a);
        case "--mgmt-samples" -> o.mgmtSamples = positive(args, ++i, a);
        case "--module-samples" -> o.moduleSamples = positive(args, ++i, a);
        case "--flood-connections" -> o.floodConnections = positive(args, ++i, a);
        case "--flood-seconds" -> o.floodDuration = Duration.ofSeconds(positive(args, ++i, a));
        case "--data-dir" -> o.dataDir = Path.of(value(args, ++i, a));
        case "--node" -> o.node = Path.of(value(args, ++i, a));
        case "--runtimes-dir" -> o.runtimesDir = Path.of(value(args, ++i, a));
        case "--help", "-h" -> throw new IllegalArgumentException(USAGE);
        default -> throw new IllegalArgumentException("unknown option " + a + "\n" + USAGE);
      }
    }
    if (o.node == null) {
      // The same Node.js the sandboxes run: the ratios compare the platform, not two Nodes.
      try {
        o.node = new dev.extend.internal.runtime.NodeDistributions(o.runtimesDir, null, null)
            .ensure(dev.extend.NodeRuntime.BUILT_IN.stream().filter(r -> r.name().equals(dev.extend.NodeRuntime.DEFAULT))
                .findFirst().orElseThrow()).resolve("bin/node");
      } catch (java.io.IOException e) {
        throw new IllegalArgumentException("the default runtime's Node.js cannot be had: " + e.getMessage()
            + " (or pass --node PATH)");
      }
    }
    return o;
  }

  private void quick() {
    quick = true;
    connections = 8;
    duration = Duration.ofMillis(1500);
    loadWarmup = Duration.ofMillis(500);
    rounds = 1;
    requests = 400;
    warmupRequests = 300;
    coldSamples = 4;
    emptySamples = 3;
    poolTarget = 3;
    mgmtSamples = 40;
    moduleSamples = 2;
    floodConnections = 100;
    floodDuration = Duration.ofSeconds(3);
  }

  boolean runs(String stage) {
    return only.contains(stage);
  }

  private static String value(String[] args, int i, String name) {
    if (i >= args.length) {
      throw new IllegalArgumentException(name + " needs a value");
    }
    return args[i];
  }

  private static int positive(String[] args, int i, String name) {
    int n = Integer.parseInt(value(args, i, name));
    if (n < 1) {
      throw new IllegalArgumentException(name + " must be at least 1, was " + n);
    }
    return n;
  }
}
