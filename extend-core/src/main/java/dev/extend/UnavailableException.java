package dev.extend;

/** A platform dependency (storage, runtime, capacity) is unavailable right now; retrying later may succeed (503). */
public class UnavailableException extends ExtendException {
  private static final long serialVersionUID = 1L;

  /** Creates the error with a message naming what is at fault. */
  public UnavailableException(String message) {
    super("unavailable", 503, message);
  }

  /** Creates the error with a message and its cause. */
  public UnavailableException(String message, Throwable cause) {
    super("unavailable", 503, message, cause);
  }
}
