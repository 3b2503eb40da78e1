package dev.extend;

/** A request body, code, secret or meta value exceeds its configured limit (413). */
public class PayloadTooLargeException extends ExtendException {
  private static final long serialVersionUID = 1L;

  /** Creates the error with a message naming what is at fault. */
  public PayloadTooLargeException(String message) {
    super("payload_too_large", 413, message);
  }

  /** Creates the error with a message and its cause. */
  public PayloadTooLargeException(String message, Throwable cause) {
    super("payload_too_large", 413, message, cause);
  }
}
