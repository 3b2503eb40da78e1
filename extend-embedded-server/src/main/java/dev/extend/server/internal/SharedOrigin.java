package dev.extend.server.internal;

import java.util.Locale;
import org.eclipse.jetty.http.HttpFields;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.http.PreEncodedHttpField;

/**
 * What a webhook's answer may do to the origin it is served from.
 *
 * <p>On the path router, every tenant's webhooks share one origin with each other and with the
 * management API ({@code https://host/run/{container}/{webhook}} next to
 * {@code https://host/api/v1}). So a webhook's cookies are scoped to its own path
 * ({@code Path=/run/{container}/{webhook}}), and dropped when they name a {@code Domain} or
 * cannot be scoped ({@code __Host-} cookies, which must have {@code Path=/}, and malformed
 * ones); and its answers carry {@code Content-Security-Policy: sandbox} (a document runs in an
 * opaque origin: no script access to the API's origin, its cookies or its storage) and
 * {@code X-Content-Type-Options: nosniff} (no answer is sniffed into active content), unless
 * the operator turns that off.
 *
 * <p>With per-container host names ({@code {container}.<domain>}) each container has an origin
 * of its own; only cookies that name a {@code Domain} (which would reach other containers'
 * hosts) are dropped.
 */
public final class SharedOrigin {
  private static final PreEncodedHttpField SANDBOX = new PreEncodedHttpField("Content-Security-Policy", "sandbox");
  private static final PreEncodedHttpField NOSNIFF = new PreEncodedHttpField("X-Content-Type-Options", "nosniff");

  private SharedOrigin() {}

  /**
   * How to treat one answer.
   *
   * @param scope the path the webhook's cookies are held to, or null when it has its own origin
   * @param sandbox whether to add the sandboxing headers
   */
  public record Policy(String scope, boolean sandbox) {
    /** An answer from a webhook with an origin of its own (host router). */
    public static final Policy OWN_ORIGIN = new Policy(null, false);

    /** Adds one header of the webhook's answer to {@code out}, as this policy allows. */
    void add(HttpFields.Mutable out, String lowerName, String value) {
      if (lowerName.equals("set-cookie")) {
        String cookie = scope == null ? hostOnly(value) : scoped(value, scope);
        if (cookie != null) {
          out.add(HttpHeader.SET_COOKIE, cookie);
        }
      } else if (!lowerName.equals("set-cookie2")) {
        out.add(lowerName, value);
      }
    }

    /** Adds what this policy adds to every answer. */
    void finish(HttpFields.Mutable out) {
      if (sandbox) {
        // added, not put: a webhook's own policy stays, and both apply
        out.add(SANDBOX);
        out.put(NOSNIFF);
      }
    }
  }

  /**
   * The path a path-routed webhook's cookies are held to: the request path without the part
   * below the webhook ({@code /run/acme/hook/x/y} → {@code /run/acme/hook}).
   */
  public static String scopeOf(String rawPath, String rest) {
    if (rest.length() > 1 && rawPath.endsWith(rest)) {
      return rawPath.substring(0, rawPath.length() - rest.length());
    }
    return rawPath.endsWith("/") ? rawPath.substring(0, rawPath.length() - 1) : rawPath;
  }

  /**
   * A {@code Set-Cookie} value held to {@code scope}, or null when the cookie must be dropped
   * (it names a Domain, is a {@code __Host-} cookie, or is malformed).
   */
  public static String scoped(String setCookie, String scope) {
    String[] parts = setCookie.split(";");
    String pair = parts[0].strip();
    if (!validPair(pair) || pair.regionMatches(true, 0, "__Host-", 0, 7)) {
      return null;
    }
    StringBuilder out = new StringBuilder(setCookie.length() + scope.length() + 8).append(pair);
    String path = null;
    for (int i = 1; i < parts.length; i++) {
      String attr = parts[i].strip();
      if (attr.isEmpty()) {
        continue;
      }
      String key = attrName(attr);
      if (key.equals("domain")) {
        return null;
      }
      if (key.equals("path")) {
        path = attr.substring(attr.indexOf('=') + 1).strip();
        continue;
      }
      out.append("; ").append(attr);
    }
    boolean within = path != null && !path.contains("/.") && (path.equals(scope) || path.startsWith(scope + "/"));
    return out.append("; Path=").append(within ? path : scope).toString();
  }

  /** A {@code Set-Cookie} value as it is, or null when it names a Domain or is malformed. */
  public static String hostOnly(String setCookie) {
    String[] parts = setCookie.split(";");
    if (!validPair(parts[0].strip())) {
      return null;
    }
    for (int i = 1; i < parts.length; i++) {
      if (attrName(parts[i].strip()).equals("domain")) {
        return null;
      }
    }
    return setCookie;
  }

  private static String attrName(String attr) {
    int eq = attr.indexOf('=');
    return (eq < 0 ? attr : attr.substring(0, eq)).strip().toLowerCase(Locale.ROOT);
  }

  private static boolean validPair(String pair) {
    int eq = pair.indexOf('=');
    if (eq <= 0) {
      return false;
    }
    for (int i = 0; i < pair.length(); i++) {
      char c = pair.charAt(i);
      if (c < 0x20 || c == 0x7f) {
        return false;
      }
    }
    return true;
  }
}
