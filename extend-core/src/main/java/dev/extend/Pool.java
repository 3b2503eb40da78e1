package dev.extend;

/** The settings of this node's sandbox pool that may change while it runs. */
public interface Pool {

  /** Current figures. */
  PoolStats stats();

  /** Warm sandboxes by runtime name (every runtime of the platform, 0 included). */
  default java.util.Map<String, Integer> warmByRuntime() {
    return java.util.Map.of();
  }

  /**
   * The share of the warm target each runtime gets now, by runtime name: the target split in
   * proportion to each runtime's recent cold starts (all of it to the default without any).
   */
  default java.util.Map<String, Integer> targetByRuntime() {
    return java.util.Map.of();
  }

  /** Sets how many warm sandboxes to keep ready (0..maxSandboxes); refills or trims in the background. */
  void setTargetWarm(int target);

  /**
   * Blocks until the pool holds its target of warm sandboxes, or the timeout passes.
   *
   * @return true when the target was reached
   */
  boolean awaitWarm(java.time.Duration timeout) throws InterruptedException;
}
