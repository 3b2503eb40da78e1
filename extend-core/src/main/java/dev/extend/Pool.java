package dev.extend;

/** The settings of this node's sandbox pool that may change while it runs. */
public interface Pool {

  /** Current figures. */
  PoolStats stats();

  /** Sets how many warm sandboxes to keep ready (0..maxSandboxes); refills or trims in the background. */
  void setTargetWarm(int target);

  /**
   * Blocks until the pool holds its target of warm sandboxes, or the timeout passes.
   *
   * @return true when the target was reached
   */
  boolean awaitWarm(java.time.Duration timeout) throws InterruptedException;
}
