package dev.extend;

/** The credentials presented do not grant access to this resource (403). */
public class ForbiddenException extends ExtendException {
  private static final long serialVersionUID = 1L;

  /** Creates the error with a message naming what is at fault. */
  public ForbiddenException(String message) {
    super("forbidden", 403, message);
  }

  /** Creates the error with a message and its cause. */
  public ForbiddenException(String message, Throwable cause) {
    super("forbidden", 403, message, cause);
  }
}
