package dev.extend.internal.sandbox;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * The pool's decisions as pure functions over plain numbers: how many sandboxes to start,
 * which to reclaim. The {@link SandboxManager} applies them.
 */
public final class PoolPolicy {
  private PoolPolicy() {}

  /** A count of sandboxes by state, and the requests waiting for one. */
  public record Counts(int warm, int starting, int assigned, int waiting, int target, int max) {
    int total() {
      return warm + starting + assigned;
    }
  }

  /**
   * How many sandboxes to start now: enough to bring warm + starting up to the target plus
   * the waiting requests, never past the cap.
   */
  public static int toStart(Counts c) {
    int wanted = c.target() + c.waiting() - c.warm() - c.starting();
    int room = c.max() - c.total();
    return Math.max(0, Math.min(wanted, room));
  }

  /** How many warm sandboxes are beyond the target (after the target was lowered). */
  public static int surplusWarm(Counts c) {
    return Math.max(0, c.warm() - c.target() - c.waiting());
  }

  /** An assigned sandbox, as the eviction decisions see it. */
  public record Candidate(String id, long lastUsedNanos, int active) {}

  /**
   * The assigned sandboxes idle for at least {@code idleNanos}, with no invocation running.
   */
  public static List<String> idle(List<Candidate> assigned, long nowNanos, long idleNanos) {
    List<String> out = new ArrayList<>();
    for (Candidate c : assigned) {
      if (c.active() == 0 && nowNanos - c.lastUsedNanos() >= idleNanos) {
        out.add(c.id());
      }
    }
    return out;
  }

  /**
   * When the node is at its cap and requests wait for a sandbox that cannot be started,
   * the least recently used idle assigned sandboxes to reclaim (at most one per waiting
   * request not already covered by a sandbox being started).
   */
  public static List<String> evictForWaiters(Counts c, List<Candidate> assigned) {
    int needed = c.waiting() - c.starting() - c.warm();
    if (needed <= 0 || c.total() < c.max()) {
      return List.of();
    }
    List<Candidate> idle = new ArrayList<>();
    for (Candidate a : assigned) {
      if (a.active() == 0) {
        idle.add(a);
      }
    }
    idle.sort(Comparator.comparingLong(Candidate::lastUsedNanos));
    List<String> out = new ArrayList<>();
    for (int i = 0; i < idle.size() && out.size() < needed; i++) {
      out.add(idle.get(i).id());
    }
    return out;
  }

  /**
   * Splits the warm target over runtimes in proportion to their demand (largest remainder),
   * every runtime with demand getting at least one while the target allows; with no demand at
   * all, everything goes to {@code fallback}.
   */
  public static java.util.Map<String, Integer> split(int target, java.util.Map<String, Double> demand, String fallback) {
    java.util.Map<String, Integer> out = new java.util.LinkedHashMap<>();
    demand.keySet().forEach(k -> out.put(k, 0));
    double total = 0;
    for (double d : demand.values()) {
      total += Math.max(0, d);
    }
    if (target <= 0) {
      return out;
    }
    if (total < 1e-3) {
      out.put(fallback, target);
      return out;
    }
    List<String> wanting = new ArrayList<>();
    demand.forEach((k, d) -> {
      if (d > 0.05) {
        wanting.add(k);
      }
    });
    if (wanting.isEmpty()) {
      out.put(fallback, target);
      return out;
    }
    // Most demanded first, so a target smaller than the runtimes in demand serves the busiest.
    wanting.sort(Comparator.comparingDouble((String k) -> demand.get(k)).reversed());
    int left = target;
    for (String k : wanting) {
      if (left == 0) {
        break;
      }
      out.put(k, 1);
      left--;
    }
    if (left > 0) {
      double sum = 0;
      for (String k : wanting) {
        sum += demand.get(k);
      }
      double[] exact = new double[wanting.size()];
      int given = 0;
      for (int i = 0; i < wanting.size(); i++) {
        exact[i] = left * demand.get(wanting.get(i)) / sum;
        int whole = (int) Math.floor(exact[i]);
        out.merge(wanting.get(i), whole, Integer::sum);
        given += whole;
      }
      Integer[] idx = new Integer[wanting.size()];
      for (int i = 0; i < idx.length; i++) {
        idx[i] = i;
      }
      java.util.Arrays.sort(idx, Comparator.comparingDouble((Integer i) -> exact[i] - Math.floor(exact[i])).reversed());
      for (int i = 0; given < left; i = (i + 1) % idx.length) {
        out.merge(wanting.get(idx[i]), 1, Integer::sum);
        given++;
      }
    }
    return out;
  }
}
