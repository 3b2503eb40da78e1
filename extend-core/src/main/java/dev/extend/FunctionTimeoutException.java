package dev.extend;

/** The webhook did not answer within its timeout; its sandbox was recycled (504). */
public class FunctionTimeoutException extends ExtendException {
  private static final long serialVersionUID = 1L;

  /** Creates the error with a message naming what is at fault. */
  public FunctionTimeoutException(String message) {
    super("function_timeout", 504, message);
  }

  /** Creates the error with a message and its cause. */
  public FunctionTimeoutException(String message, Throwable cause) {
    super("function_timeout", 504, message, cause);
  }
}
