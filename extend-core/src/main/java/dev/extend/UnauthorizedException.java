package dev.extend;

/** No valid credentials were presented (401). */
public class UnauthorizedException extends ExtendException {
  private static final long serialVersionUID = 1L;

  /** Creates the error with a message naming what is at fault. */
  public UnauthorizedException(String message) {
    super("unauthorized", 401, message);
  }

  /** Creates the error with a message and its cause. */
  public UnauthorizedException(String message, Throwable cause) {
    super("unauthorized", 401, message, cause);
  }
}
