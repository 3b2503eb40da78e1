package dev.extend.internal.sandbox;

import static org.assertj.core.api.Assertions.assertThat;

import dev.extend.internal.sandbox.PoolPolicy.Candidate;
import dev.extend.internal.sandbox.PoolPolicy.Counts;
import java.util.List;
import org.junit.jupiter.api.Test;

class PoolPolicyTest {
  @Test
  void startsUpToTarget() {
    assertThat(PoolPolicy.toStart(new Counts(0, 0, 0, 0, 3, 10))).isEqualTo(3);
    assertThat(PoolPolicy.toStart(new Counts(1, 1, 5, 0, 3, 10))).isEqualTo(1);
    assertThat(PoolPolicy.toStart(new Counts(3, 0, 0, 0, 3, 10))).isZero();
  }

  @Test
  void startsForWaitersBeyondTarget() {
    assertThat(PoolPolicy.toStart(new Counts(0, 2, 0, 4, 2, 10))).isEqualTo(4);
  }

  @Test
  void neverPastTheCap() {
    assertThat(PoolPolicy.toStart(new Counts(0, 1, 8, 5, 2, 10))).isEqualTo(1);
    assertThat(PoolPolicy.toStart(new Counts(0, 0, 10, 5, 2, 10))).isZero();
  }

  @Test
  void surplusWhenTargetLowered() {
    assertThat(PoolPolicy.surplusWarm(new Counts(5, 0, 0, 0, 2, 10))).isEqualTo(3);
    assertThat(PoolPolicy.surplusWarm(new Counts(5, 0, 0, 3, 2, 10))).isZero();
  }

  @Test
  void idleOnlyWithoutActiveInvocations() {
    List<Candidate> c = List.of(new Candidate("a", 0, 0), new Candidate("b", 0, 1), new Candidate("c", 900, 0));
    assertThat(PoolPolicy.idle(c, 1000, 500)).containsExactly("a");
  }

  @Test
  void evictsLeastRecentlyUsedIdleWhenAtCapWithWaiters() {
    List<Candidate> c = List.of(new Candidate("new", 300, 0), new Candidate("busy", 10, 2),
        new Candidate("old", 100, 0), new Candidate("mid", 200, 0));
    assertThat(PoolPolicy.evictForWaiters(new Counts(0, 0, 4, 2, 0, 4), c)).containsExactly("old", "mid");
    // a sandbox already starting covers one waiter
    assertThat(PoolPolicy.evictForWaiters(new Counts(0, 1, 3, 2, 0, 4), c)).containsExactly("old");
    // below the cap nothing is evicted: a new sandbox is started instead
    assertThat(PoolPolicy.evictForWaiters(new Counts(0, 0, 3, 2, 0, 4), c)).isEmpty();
  }

  private static java.util.Map<String, Double> demand(Object... kv) {
    java.util.Map<String, Double> m = new java.util.LinkedHashMap<>();
    for (int i = 0; i < kv.length; i += 2) {
      m.put((String) kv[i], ((Number) kv[i + 1]).doubleValue());
    }
    return m;
  }

  @Test
  void withoutDemandTheWholeTargetWarmsTheDefaultRuntime() {
    assertThat(PoolPolicy.split(4, demand("node20", 0, "node22", 0, "node24", 0), "node22"))
        .containsEntry("node22", 4).containsEntry("node20", 0).containsEntry("node24", 0);
    assertThat(PoolPolicy.split(0, demand("node20", 5, "node22", 1), "node22")).containsEntry("node20", 0)
        .containsEntry("node22", 0);
  }

  @Test
  void theTargetFollowsDemandAndSumsToIt() {
    var out = PoolPolicy.split(10, demand("node20", 1, "node22", 6, "node24", 3), "node22");
    assertThat(out.values().stream().mapToInt(Integer::intValue).sum()).isEqualTo(10);
    assertThat(out.get("node22")).isGreaterThan(out.get("node24"));
    assertThat(out.get("node24")).isGreaterThan(out.get("node20"));
    assertThat(out.get("node20")).isGreaterThanOrEqualTo(1);
  }

  @Test
  void everyRuntimeInDemandKeepsOneWarmWhileTheTargetAllows() {
    var out = PoolPolicy.split(3, demand("node20", 0.5, "node22", 100, "node24", 0.2), "node22");
    assertThat(out).containsEntry("node20", 1).containsEntry("node24", 1).containsEntry("node22", 1);
    // a target smaller than the runtimes in demand serves the busiest first
    var small = PoolPolicy.split(1, demand("node20", 0.5, "node22", 100, "node24", 0.2), "node22");
    assertThat(small).containsEntry("node22", 1).containsEntry("node20", 0).containsEntry("node24", 0);
  }
}
