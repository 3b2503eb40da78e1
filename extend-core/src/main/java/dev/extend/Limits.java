package dev.extend;

import java.time.Duration;
import java.util.Objects;

/**
 * Per-webhook resource limits. The platform's builder sets defaults and maxima; a webhook may
 * ask for less or more within the maxima.
 *
 * <p>Each limit is optional when a webhook is written: one left null takes the platform's
 * default ({@link ServerlessPlatform.Builder#defaultLimits}) at that moment, and the webhook
 * keeps the value it got. As with AWS Lambda's timeout and memory size, a later change of the
 * platform's default moves no stored webhook; writing the webhook again without the limit takes
 * the default of that time. Limits read back ({@link Webhook#limits()}) are therefore always
 * {@linkplain #isComplete() complete}: the values in effect.
 *
 * @param timeout how long one invocation may run before it is answered 504 and its sandbox
 *     recycled, at least 1 ms; null for the platform's default
 * @param memoryMb memory the webhook's sandbox may use, in MiB, at least 32; null for the
 *     platform's default
 */
public record Limits(Duration timeout, Integer memoryMb) {
  private static final Duration ONE_MS = Duration.ofMillis(1);

  /** Checks, for each limit given, ranges that hold regardless of configuration. */
  public Limits {
    // below a millisecond an invocation would get a deadline of 0, which means none
    if (timeout != null && timeout.compareTo(ONE_MS) < 0) {
      throw new ValidationException("limits.timeoutMs", "must be at least 1 ms, was " + timeout.toMillis());
    }
    if (memoryMb != null && memoryMb < 32) {
      throw new ValidationException("limits.memoryMb", "must be at least 32, was " + memoryMb);
    }
  }

  /** Only a timeout; the memory is the platform's default. */
  public static Limits ofTimeout(Duration timeout) {
    return new Limits(Objects.requireNonNull(timeout, "timeout"), null);
  }

  /** Only a memory size in MiB; the timeout is the platform's default. */
  public static Limits ofMemoryMb(int memoryMb) {
    return new Limits(null, memoryMb);
  }

  /** The timeout in milliseconds, or null when it is left to the platform's default. */
  public Long timeoutMs() {
    return timeout == null ? null : timeout.toMillis();
  }

  /** Whether every limit is set, as in the limits a stored webhook has. */
  public boolean isComplete() {
    return timeout != null && memoryMb != null;
  }

  /** These limits, each one left null taken from {@code defaults}. */
  public Limits orElse(Limits defaults) {
    Objects.requireNonNull(defaults, "defaults");
    return new Limits(timeout != null ? timeout : defaults.timeout, memoryMb != null ? memoryMb : defaults.memoryMb);
  }
}
