package dev.extend;

/**
 * A caller went beyond a limit on how much it may do at once or how fast (429); retrying after
 * {@link #retryAfterSeconds()} may succeed.
 */
public class TooManyRequestsException extends ExtendException {
  private static final long serialVersionUID = 1L;
  private final int retryAfterSeconds;

  /** Creates the error with a message naming the limit and its setting. */
  public TooManyRequestsException(String message, int retryAfterSeconds) {
    super("too_many_requests", 429, message);
    this.retryAfterSeconds = Math.max(1, retryAfterSeconds);
  }

  /** When to try again, in seconds (at least 1). */
  public int retryAfterSeconds() {
    return retryAfterSeconds;
  }
}
