package dev.extend;


/**
 * The name of a webhook within its container: letters, digits, {@code -} and {@code _},
 * starting with a letter or digit, 1 to 64 characters.
 *
 * @param value the name
 */
public record WebhookName(String value) implements Comparable<WebhookName> {

  /** Validates the name. */
  public WebhookName {
    if (value == null || value.isEmpty()) {
      throw new ValidationException("webhook", "is required");
    }
    if (!valid(value)) {
      throw new ValidationException("webhook",
          "must be 1-64 letters, digits, '-' or '_', starting with a letter or digit");
    }
  }

  /** {@code [A-Za-z0-9][A-Za-z0-9_-]{0,63}}, checked on every routed request, so without a regex. */
  private static boolean valid(String v) {
    int n = v.length();
    if (n > 64) {
      return false;
    }
    for (int i = 0; i < n; i++) {
      char c = v.charAt(i);
      boolean alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
      if (!alnum && (i == 0 || (c != '-' && c != '_'))) {
        return false;
      }
    }
    return true;
  }

  /** Creates a webhook name, validating it. */
  public static WebhookName of(String value) {
    return new WebhookName(value);
  }

  @Override
  public int compareTo(WebhookName o) {
    return value.compareTo(o.value);
  }

  @Override
  public String toString() {
    return value;
  }
}
