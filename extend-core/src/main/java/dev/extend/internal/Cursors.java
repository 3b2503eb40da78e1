package dev.extend.internal;

import dev.extend.ValidationException;
import java.nio.charset.StandardCharsets;
import java.util.Base64;

/** Opaque cursors: the last key of a page, base64url-encoded. */
public final class Cursors {
  private Cursors() {}

  /** Encodes the last key of a page. */
  public static String encode(String lastKey) {
    return Base64.getUrlEncoder().withoutPadding().encodeToString(lastKey.getBytes(StandardCharsets.UTF_8));
  }

  /** Decodes a cursor; null stays null. */
  public static String decode(String cursor) {
    if (cursor == null || cursor.isEmpty()) {
      return null;
    }
    try {
      return new String(Base64.getUrlDecoder().decode(cursor), StandardCharsets.UTF_8);
    } catch (IllegalArgumentException e) {
      throw new ValidationException("cursor", "is not a cursor this API returned");
    }
  }

  /** Checks a page size. */
  public static void checkLimit(int limit) {
    if (limit < 1 || limit > 1000) {
      throw new ValidationException("limit", "must be 1..1000, was " + limit);
    }
  }
}
