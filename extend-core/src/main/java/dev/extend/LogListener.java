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
}
