package dev.extend;


/**
 * The name of a container: the isolation boundary owned by one tenant. Lower-case letters,
 * digits, {@code -} and {@code _}, starting with a letter or digit, 1 to 63 characters, so
 * that it is safe in URLs, file names and (without {@code _}) DNS labels.
 *
 * @param value the name
 */
public record ContainerName(String value) implements Comparable<ContainerName> {

  /** Validates the name. */
  public ContainerName {
    check("container", value);
  }

  /** Creates a container name, validating it. */
  public static ContainerName of(String value) {
    return new ContainerName(value);
  }

  /**
   * Checks a container name for the given field.
   *
   * @throws ValidationException naming {@code field} when invalid
   */
  public static void check(String field, String value) {
    if (value == null || value.isEmpty()) {
      throw new ValidationException(field, "is required");
    }
    if (!valid(value)) {
      throw new ValidationException(field,
          "must be 1-63 lower-case letters, digits, '-' or '_', starting with a letter or digit");
    }
  }

  /** {@code [a-z0-9][a-z0-9_-]{0,62}}, checked on every routed request, so without a regex. */
  private static boolean valid(String v) {
    int n = v.length();
    if (n > 63) {
      return false;
    }
    for (int i = 0; i < n; i++) {
      char c = v.charAt(i);
      boolean alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
      if (!alnum && (i == 0 || (c != '-' && c != '_'))) {
        return false;
      }
    }
    return true;
  }

  @Override
  public int compareTo(ContainerName o) {
    return value.compareTo(o.value);
  }

  @Override
  public String toString() {
    return value;
  }
}
