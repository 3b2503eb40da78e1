package dev.extend;

/**
 * Receives webhooks' console output. Called on a platform thread; implementations must be
 * fast and must not throw.
 */
@FunctionalInterface
public interface LogListener {
  /** A listener that ignores everything. */
  LogListener NONE = event -> {};

  /** Called for each line of output. */
  void onLog(LogEvent event);

  /**
   * Called once when the platform ends a subscription made with
   * {@link ServerlessPlatform#subscribeLogs}: its container was deleted. No line follows.
   */
  default void onClose() {}
}
