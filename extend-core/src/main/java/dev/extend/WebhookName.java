package dev.extend;

import java.util.regex.Pattern;

/**
 * The name of a webhook within its container: letters, digits, {@code -} and {@code _},
 * starting with a letter or digit, 1 to 64 characters.
 *
 * @param value the name
 */
public record WebhookName(String value) implements Comparable<WebhookName> {
  private static final Pattern VALID = Pattern.compile("[A-Za-z0-9][A-Za-z0-9_-]{0,63}");

  /** Validates the name. */
  public WebhookName {
    if (value == null || value.isEmpty()) {
      throw new ValidationException("webhook", "is required");
    }
    if (!VALID.matcher(value).matches()) {
      throw new ValidationException("webhook",
          "must be 1-64 letters, digits, '-' or '_', starting with a letter or digit");
    }
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
