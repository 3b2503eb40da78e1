package dev.extend;

import java.time.Duration;
import java.util.Objects;

/**
 * Per-webhook resource limits. The platform's builder sets defaults and maxima; a webhook may
 * ask for less or more within the maxima.
 *
 * @param timeout how long one invocation may run before it is answered 504 and its sandbox recycled
 * @param memoryMb memory the webhook's sandbox may use, in MiB
 */
public record Limits(Duration timeout, int memoryMb) {
  /** Checks ranges that hold regardless of configuration. */
  public Limits {
    Objects.requireNonNull(timeout, "timeout");
    if (timeout.isNegative() || timeout.isZero()) {
      throw new ValidationException("limits.timeoutMs", "must be positive");
    }
    if (memoryMb < 32) {
      throw new ValidationException("limits.memoryMb", "must be at least 32");
    }
  }

  /** The timeout in milliseconds. */
  public long timeoutMs() {
    return timeout.toMillis();
  }
}
