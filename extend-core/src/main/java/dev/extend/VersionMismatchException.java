package dev.extend;

/** An update or delete named an expected version, and the stored version has moved since (412). */
public class VersionMismatchException extends ExtendException {
  private static final long serialVersionUID = 1L;

  /** Creates the error with a message naming what is at fault. */
  public VersionMismatchException(String message) {
    super("version_mismatch", 412, message);
  }

  /** Creates the error with a message and its cause. */
  public VersionMismatchException(String message, Throwable cause) {
    super("version_mismatch", 412, message, cause);
  }
}
