package dev.extend.server;

import static org.assertj.core.api.Assertions.assertThat;

import dev.extend.ContainerName;
import dev.extend.EgressCounters;
import dev.extend.WebhookRef;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Metrics recorded from platform events, with bounded label values. */
class ServerMetricsTest {
  @Test
  void invocationsAndSandboxEndsAreCountedWithShortLabels() {
    ServerMetrics m = ServerMetrics.create();
    m.platformListener().invocationEnded(WebhookRef.of("acme", "w"), 200, 1_500_000, true);
    m.platformListener().invocationEnded(WebhookRef.of("acme", "w"), 502, 2_000_000, false);
    m.platformListener().sandboxEnded("sb-1", "connection to agent failed: java.io.IOException: boom at 0x1234");
    for (int i = 0; i < 100; i++) {
      m.platformListener().sandboxEnded("sb-" + i, "distinct reason number " + i);
    }
    String text = m.scrape();
    assertThat(text).contains("extend_invocations_total{cold=\"true\",status=\"200\"} 1.0");
    assertThat(text).contains("extend_invocations_total{cold=\"false\",status=\"502\"} 1.0");
    assertThat(text).contains("extend_invocation_duration_seconds_count{cold=\"true\"} 1");
    assertThat(text).contains("extend_sandbox_ended_total{reason=\"connection to agent failed\"} 1.0");
    assertThat(text).doesNotContain("0x1234");
    assertThat(text.lines().filter(l -> l.startsWith("extend_sandbox_ended_total")).count()).isLessThanOrEqualTo(33);
    assertThat(text).contains("reason=\"other\"");
  }

  @Test
  void egressCountersKeepTheLargestContainersAndSumTheRest() {
    Map<ContainerName, EgressCounters> counters = new HashMap<>();
    for (int i = 0; i < 30; i++) {
      // bytes out + denials grow with i: c29..c10 are the largest 20
      counters.put(ContainerName.of("c" + i), new EgressCounters(1, 100L * i, 7, i % 2));
    }
    String text = ServerMetrics.egressText(counters, 20);

    for (String family : List.of("connections", "bytes_out", "bytes_in", "denials")) {
      String name = "extend_egress_" + family + "_total";
      assertThat(text).contains("# TYPE " + name + " counter");
      assertThat(text.lines().filter(l -> l.startsWith(name + "{"))).as(name).hasSize(21);
    }
    assertThat(text).contains("extend_egress_bytes_out_total{container=\"c29\"} 2900\n")
        .contains("extend_egress_bytes_out_total{container=\"c10\"} 1000\n")
        .doesNotContain("container=\"c9\"");
    // c0..c9 summed: bytes out 100 * (0 + ... + 9), 10 connections, 70 bytes in, 5 denials
    assertThat(text).contains("extend_egress_bytes_out_total{container=\"_other\"} 4500\n")
        .contains("extend_egress_connections_total{container=\"_other\"} 10\n")
        .contains("extend_egress_bytes_in_total{container=\"_other\"} 70\n")
        .contains("extend_egress_denials_total{container=\"_other\"} 5\n");

    String few = ServerMetrics.egressText(Map.of(ContainerName.of("acme"), new EgressCounters(3, 4, 5, 6)), 20);
    assertThat(few).contains("extend_egress_denials_total{container=\"acme\"} 6\n").doesNotContain("_other");
    assertThat(ServerMetrics.egressText(Map.of(), 20)).isEmpty();
  }

  @Test
  void labelValuesAreEscapedForTheTextFormat() {
    assertThat(ServerMetrics.escapeLabel("a\"b\\c\nd")).isEqualTo("a\\\"b\\\\c\\nd");
    assertThat(ServerMetrics.escapeLabel("acme-1_x")).isEqualTo("acme-1_x");
  }

  @Test
  void aBoundPlatformWithoutCountersAddsNoEgressFamilies() throws Exception {
    try (TestServer t = TestServer.start()) {
      assertThat(t.metrics.scrape()).contains("extend_pool_warm").doesNotContain("extend_egress_");
    }
  }
}
