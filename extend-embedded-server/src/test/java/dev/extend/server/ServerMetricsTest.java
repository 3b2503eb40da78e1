package dev.extend.server;

import static org.assertj.core.api.Assertions.assertThat;

import dev.extend.WebhookRef;
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
}
