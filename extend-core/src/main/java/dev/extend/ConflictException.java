package dev.extend;

/** The request conflicts with the current state, e.g. a create of something that exists (409). */
public class ConflictException extends ExtendException {
  private static final long serialVersionUID = 1L;

  /** Creates the error with a message naming what is at fault. */
  public ConflictException(String message) {
    super("conflict", 409, message);
  }

  /** Creates the error with a more specific code than {@code conflict}. */
  public ConflictException(String code, String message) {
    super(code, 409, message);
  }

  /** Creates the error with a message and its cause. */
  public ConflictException(String message, Throwable cause) {
    super("conflict", 409, message, cause);
  }
}
