package dev.extend;

/**
 * Input failed validation (400). The {@link #field()} names the offending field as a dotted
 * path, e.g. {@code dependencies.lodash} or {@code limits.timeoutMs}; the message starts with it.
 */
public class ValidationException extends ExtendException {
  private static final long serialVersionUID = 1L;
  private final String field;

  /**
   * Creates the error.
   *
   * @param field dotted path of the offending field
   * @param problem what is wrong with it, e.g. "version must be exact semver"
   */
  public ValidationException(String field, String problem) {
    super("validation_failed", 400, field + ": " + problem);
    this.field = field;
  }

  /** The dotted path of the field at fault. */
  public String field() {
    return field;
  }
}
