package dev.extend;

/**
 * The webhook's own code failed: it threw, rejected, called back with an error, or its
 * sandbox crashed while serving the call (502). The message is the tenant's error message;
 * {@link #errorName()} is the JavaScript error's name when known.
 */
public class FunctionErrorException extends ExtendException {
  private static final long serialVersionUID = 1L;
  private final String errorName;

  /** Creates the error. */
  public FunctionErrorException(String errorName, String message) {
    super("function_error", 502, message);
    this.errorName = errorName;
  }

  /** The JavaScript error name (e.g. {@code TypeError}), or {@code Error} when unknown. */
  public String errorName() {
    return errorName;
  }
}
