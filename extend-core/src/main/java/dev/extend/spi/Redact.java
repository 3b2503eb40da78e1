package dev.extend.spi;

/**
 * Masks credentials in text that is logged or shown: the user info of URLs
 * ({@code https://user:secret@registry/} becomes {@code https://****@registry/}) and the values
 * of npm's credential settings ({@code _authToken=}, {@code _auth=}, {@code _password=},
 * {@code password=}, as in {@code .npmrc} lines and npm's messages). For module builders,
 * runtimes and hosts alike; the platform applies it to every build log it stores or shows.
 *
 * <p>It scans once, without regular expressions, and leaves text without credentials as it was.
 */
public final class Redact {
  private static final String MASK = "****";
  private static final String[] KEYS = {"_authtoken=", "_auth=", "_password=", "password="};

  private Redact() {}

  /** {@code text} with credentials masked; null stays null. */
  public static String credentials(String text) {
    if (text == null || (text.indexOf('@') < 0 && text.indexOf('=') < 0)) {
      return text;
    }
    StringBuilder out = null;
    int copied = 0;
    int n = text.length();
    for (int i = 0; i < n; i++) {
      char c = text.charAt(i);
      int maskFrom = -1;
      int maskTo = -1;
      if (c == '/' && i + 1 < n && text.charAt(i + 1) == '/' && i > 0 && text.charAt(i - 1) == ':') {
        // scheme://userinfo@host: the user info runs to the first '@' before the host ends
        int start = i + 2;
        int end = start;
        while (end < n && !endsAuthority(text.charAt(end))) {
          end++;
        }
        int at = text.lastIndexOf('@', end - 1);
        if (at >= start) {
          maskFrom = start;
          maskTo = at;
        }
      } else if (c == '=') {
        String key = keyBefore(text, i);
        if (key != null) {
          maskFrom = i + 1;
          char quote = maskFrom < n ? text.charAt(maskFrom) : 0;
          if (quote == '"' || quote == '\'') {
            // a quoted value runs to its closing quote
            maskFrom++;
            maskTo = text.indexOf(quote, maskFrom);
            maskTo = maskTo < 0 ? n : maskTo;
          } else {
            maskTo = maskFrom;
            while (maskTo < n && !endsValue(text.charAt(maskTo))) {
              maskTo++;
            }
          }
          if (maskTo == maskFrom) {
            maskFrom = -1;
          }
        }
      }
      if (maskFrom >= 0) {
        if (out == null) {
          out = new StringBuilder(n);
        }
        out.append(text, copied, maskFrom).append(MASK);
        copied = maskTo;
        i = maskTo - 1;
      }
    }
    if (out == null) {
      return text;
    }
    return out.append(text, copied, n).toString();
  }

  /** The credential key ending just before {@code eq}, or null. */
  private static String keyBefore(String text, int eq) {
    for (String key : KEYS) {
      int from = eq + 1 - key.length();
      if (from >= 0 && text.regionMatches(true, from, key, 0, key.length())) {
        return key;
      }
    }
    return null;
  }

  private static boolean endsAuthority(char c) {
    return c == '/' || c == '?' || c == '#' || Character.isWhitespace(c) || c == '"' || c == '\'' || c == '<'
        || c == '>';
  }

  private static boolean endsValue(char c) {
    return Character.isWhitespace(c) || c == '"' || c == '\'' || c == '&' || c == ';' || c == ',';
  }
}
