package dev.extend;

/**
 * The root of every error Extend reports. Each error carries a stable machine-readable
 * {@link #code()} and the HTTP status it maps to, so the embedded server and a host
 * application translate errors the same way.
 *
 * <p>User faults (bad input, missing webhook, version conflicts) and platform faults
 * (unavailable storage, a sandbox that could not start) are distinct subclasses.
 */
public class ExtendException extends RuntimeException {
  private static final long serialVersionUID = 1L;
  private final String code;
  private final int status;

  /**
   * Creates an error.
   *
   * @param code stable snake_case code, e.g. {@code validation_failed}
   * @param status the HTTP status this error maps to
   * @param message human-readable message naming the field or setting at fault
   * @param cause the underlying cause, may be null
   */
  public ExtendException(String code, int status, String message, Throwable cause) {
    super(message, cause);
    this.code = code;
    this.status = status;
  }

  /** Creates an error without a cause. */
  public ExtendException(String code, int status, String message) {
    this(code, status, message, null);
  }

  /** The stable machine-readable code of this error. */
  public String code() {
    return code;
  }

  /** The HTTP status this error maps to. */
  public int status() {
    return status;
  }

  /** An internal error: a bug in Extend (500). */
  public static ExtendException internal(String message, Throwable cause) {
    return new ExtendException("internal_error", 500, message, cause);
  }
}
