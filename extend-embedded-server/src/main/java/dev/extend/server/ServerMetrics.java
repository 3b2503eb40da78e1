package dev.extend.server;

import dev.extend.ContainerName;
import dev.extend.EgressCounters;
import dev.extend.PoolStats;
import dev.extend.ServerlessPlatform;
import dev.extend.WebhookRef;
import dev.extend.spi.PlatformListener;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.core.instrument.binder.system.UptimeMetrics;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.function.ToDoubleFunction;

/**
 * The server's Prometheus metrics: invocations by status and cold start, their latency
 * histogram, sandbox starts and ends, pool gauges, build queue depth, per-container egress
 * counters and JVM basics.
 *
 * <p>Invocation and sandbox figures come from the platform itself, so register
 * {@link #platformListener()} on the platform's builder before building it; invocations made
 * by a host application through {@code platform.invoke(...)} are then counted as well.
 *
 * <pre>{@code
 * ServerMetrics metrics = ServerMetrics.create();
 * ServerlessPlatform platform = ServerlessPlatform.builder().listener(metrics.platformListener()).build();
 * ExtendServer server = ExtendServer.builder(platform).metrics(metrics).build();
 * }</pre>
 */
public final class ServerMetrics {
  private final PrometheusMeterRegistry registry;
  private final ConcurrentHashMap<Long, Counter> invocations = new ConcurrentHashMap<>();
  private final Timer warmLatency;
  private final Timer coldLatency;
  private final Timer sandboxStart;
  private final ConcurrentHashMap<String, Counter> sandboxEnds = new ConcurrentHashMap<>();
  private final PlatformListener listener;
  private volatile boolean bound;
  private volatile ServerlessPlatform platform;

  private ServerMetrics() {
    registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    warmLatency = latency(false);
    coldLatency = latency(true);
    sandboxStart = Timer.builder("extend.sandbox.start")
        .description("Time from starting a sandbox to its agent being ready")
        .publishPercentileHistogram()
        .register(registry);
    new JvmMemoryMetrics().bindTo(registry);
    new JvmThreadMetrics().bindTo(registry);
    new ProcessorMetrics().bindTo(registry);
    new UptimeMetrics().bindTo(registry);
    listener = new Listener();
  }

  /** Creates a fresh set of metrics with its own registry. */
  public static ServerMetrics create() {
    return new ServerMetrics();
  }

  /** The listener to pass to {@code ServerlessPlatform.Builder#listener}. */
  public PlatformListener platformListener() {
    return listener;
  }

  /** The registry, for adding the host application's own meters. */
  public MeterRegistry registry() {
    return registry;
  }

  /** The metrics in Prometheus text format. */
  public String scrape() {
    ServerlessPlatform p = platform;
    String text = registry.scrape();
    if (p == null) {
      return text;
    }
    Map<ContainerName, EgressCounters> counters;
    try {
      counters = p.egressCounters();
    } catch (RuntimeException e) {
      return text; // the runtime's figures are missing from this scrape, the rest is served
    }
    return text + egressText(counters, MAX_EGRESS_CONTAINERS);
  }

  /** Containers with egress series of their own; the others are summed under {@code _other}. */
  static final int MAX_EGRESS_CONTAINERS = 20;

  /** The egress families, their help texts and what each counts. */
  private static final List<String[]> EGRESS_FAMILIES = List.of(
      new String[] {"extend_egress_connections_total", "Outbound connections of the container's sandboxes the"
          + " egress policy let through"},
      new String[] {"extend_egress_bytes_out_total", "Bytes the container's sandboxes sent outside"},
      new String[] {"extend_egress_bytes_in_total", "Bytes the container's sandboxes received from outside"},
      new String[] {"extend_egress_denials_total", "Connections and name lookups of the container's sandboxes the"
          + " egress policy refused"});

  /**
   * Per-container egress counters in Prometheus text: the {@code max} containers with the most
   * bytes out plus denials get a {@code container} label of their own, the rest are summed under
   * {@code container="_other"} (no container is named that: names start with a letter or digit),
   * so that the label's cardinality stays bounded whatever the number of tenants. Empty when
   * there are no counters (a runtime that does not enforce egress).
   */
  static String egressText(Map<ContainerName, EgressCounters> counters, int max) {
    if (counters.isEmpty()) {
      return "";
    }
    List<Map.Entry<ContainerName, EgressCounters>> all = new ArrayList<>(counters.entrySet());
    all.sort(Comparator.comparingLong((Map.Entry<ContainerName, EgressCounters> e) ->
        e.getValue().bytesOut() + e.getValue().denials()).reversed().thenComparing(Map.Entry::getKey));
    List<Map.Entry<String, EgressCounters>> series = new ArrayList<>();
    EgressCounters rest = null;
    for (int i = 0; i < all.size(); i++) {
      Map.Entry<ContainerName, EgressCounters> e = all.get(i);
      if (i < max) {
        series.add(Map.entry(e.getKey().value(), e.getValue()));
      } else {
        rest = rest == null ? e.getValue() : rest.plus(e.getValue());
      }
    }
    if (rest != null) {
      series.add(Map.entry("_other", rest));
    }
    StringBuilder sb = new StringBuilder(256 + series.size() * 4 * 64);
    for (int f = 0; f < EGRESS_FAMILIES.size(); f++) {
      String name = EGRESS_FAMILIES.get(f)[0];
      sb.append("# HELP ").append(name).append(' ').append(EGRESS_FAMILIES.get(f)[1]).append('\n');
      sb.append("# TYPE ").append(name).append(" counter\n");
      for (Map.Entry<String, EgressCounters> e : series) {
        EgressCounters c = e.getValue();
        long v = switch (f) {
          case 0 -> c.connections();
          case 1 -> c.bytesOut();
          case 2 -> c.bytesIn();
          default -> c.denials();
        };
        sb.append(name).append("{container=\"").append(escapeLabel(e.getKey())).append("\"} ").append(v).append('\n');
      }
    }
    return sb.toString();
  }

  /** A label value escaped per the Prometheus text format: backslash, double quote and line feed. */
  static String escapeLabel(String value) {
    StringBuilder sb = new StringBuilder(value.length() + 8);
    for (int i = 0; i < value.length(); i++) {
      char ch = value.charAt(i);
      switch (ch) {
        case '\\' -> sb.append("\\\\");
        case '"' -> sb.append("\\\"");
        case '\n' -> sb.append("\\n");
        default -> sb.append(ch);
      }
    }
    return sb.toString();
  }

  /** Adds gauges reading the platform's pool and build queue; once per metrics object. */
  synchronized void bind(ServerlessPlatform platform) {
    if (bound) {
      return;
    }
    bound = true;
    this.platform = platform;
    poolGauge(platform, "extend.pool.warm", "Warm sandboxes waiting for a container", PoolStats::warm);
    poolGauge(platform, "extend.pool.starting", "Sandboxes being started", PoolStats::starting);
    poolGauge(platform, "extend.pool.assigned", "Sandboxes assigned to containers", PoolStats::assigned);
    poolGauge(platform, "extend.pool.target.warm", "Warm sandboxes the pool keeps ready", PoolStats::targetWarm);
    poolGauge(platform, "extend.pool.max", "Cap on this node's sandboxes", PoolStats::maxSandboxes);
    poolGauge(platform, "extend.pool.waiting", "Requests waiting for a sandbox", PoolStats::waiting);
    for (dev.extend.NodeRuntime rt : platform.runtimes()) {
      Gauge.builder("extend.pool.runtime.warm", platform, p -> p.pool().warmByRuntime().getOrDefault(rt.name(), 0))
          .description("Warm sandboxes of one runtime").tag("runtime", rt.name()).register(registry);
      Gauge.builder("extend.pool.runtime.target", platform, p -> p.pool().targetByRuntime().getOrDefault(rt.name(), 0))
          .description("The share of the warm target one runtime gets, by recent demand").tag("runtime", rt.name())
          .register(registry);
    }
    Gauge.builder("extend.build.queue.depth", platform, p -> p.buildQueueDepth())
        .description("Queued and running module builds")
        .register(registry);
  }

  private void poolGauge(ServerlessPlatform platform, String name, String description,
      ToDoubleFunction<PoolStats> f) {
    Gauge.builder(name, platform, p -> f.applyAsDouble(p.pool().stats()))
        .description(description)
        .register(registry);
  }

  private Timer latency(boolean cold) {
    return Timer.builder("extend.invocation.duration")
        .description("Time from an invocation's call to its response headers")
        .tag("cold", Boolean.toString(cold))
        .publishPercentileHistogram()
        .minimumExpectedValue(Duration.ofNanos(100_000))
        .maximumExpectedValue(Duration.ofMinutes(5))
        .register(registry);
  }

  private Counter invocationCounter(int status, boolean cold) {
    long key = ((long) status << 1) | (cold ? 1 : 0);
    Counter c = invocations.get(key);
    if (c == null) {
      c = invocations.computeIfAbsent(key, k -> Counter.builder("extend.invocations")
          .description("Invocations by HTTP status and cold start")
          .tag("status", Integer.toString(status))
          .tag("cold", Boolean.toString(cold))
          .register(registry));
    }
    return c;
  }

  /** Distinct reason labels kept; the rest count as {@code other}, so label cardinality stays bounded. */
  private static final int MAX_REASONS = 32;

  /**
   * A short label from a free-text reason: the words before any detail (a colon or
   * parenthesis), e.g. {@code connection to agent failed: java.io...} gives
   * {@code connection to agent failed}.
   */
  static String reasonTag(String reason) {
    if (reason == null || reason.isBlank()) {
      return "unknown";
    }
    String r = reason.strip();
    int cut = r.length();
    for (char c : new char[] {':', '(', '\n'}) {
      int i = r.indexOf(c);
      if (i > 0 && i < cut) {
        cut = i;
      }
    }
    r = r.substring(0, Math.min(cut, 48)).strip().toLowerCase(java.util.Locale.ROOT);
    return r.isEmpty() ? "unknown" : r;
  }

  /** Records into the registry; must be fast and never throw. */
  private final class Listener implements PlatformListener {
    @Override
    public void invocationEnded(WebhookRef webhook, int status, long nanos, boolean cold) {
      try {
        invocationCounter(status, cold).increment();
        (cold ? coldLatency : warmLatency).record(nanos, TimeUnit.NANOSECONDS);
      } catch (RuntimeException e) {
        // metrics must never break an invocation
      }
    }

    @Override
    public void sandboxStarted(String sandboxId, long nanos) {
      try {
        sandboxStart.record(nanos, TimeUnit.NANOSECONDS);
      } catch (RuntimeException e) {
        // ignored, as above
      }
    }

    @Override
    public void sandboxEnded(String sandboxId, String reason) {
      try {
        String r = reasonTag(reason);
        if (!sandboxEnds.containsKey(r) && sandboxEnds.size() >= MAX_REASONS) {
          r = "other";
        }
        sandboxEnds.computeIfAbsent(r, k -> Counter.builder("extend.sandbox.ended")
            .description("Sandboxes ended, by reason")
            .tag("reason", k)
            .register(registry)).increment();
      } catch (RuntimeException e) {
        // ignored, as above
      }
    }
  }
}
