package dev.extend;

/** A container, webhook, module or token does not exist (404). */
public class NotFoundException extends ExtendException {
  private static final long serialVersionUID = 1L;

  /** Creates the error with a message naming what is at fault. */
  public NotFoundException(String message) {
    super("not_found", 404, message);
  }

  /** Creates the error with a message and its cause. */
  public NotFoundException(String message, Throwable cause) {
    super("not_found", 404, message, cause);
  }
}
