package dev.extend.server.internal;

import dev.extend.ValidationException;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * Splits a raw (still percent-encoded) request path into decoded segments. Segments are split
 * before decoding, so an encoded slash ({@code %2F}) stays inside its segment and can only
 * ever reach a name validator, never change which resource is addressed.
 */
public final class Paths {
  private Paths() {}

  /**
   * The decoded segments of a raw path, without the leading empty one. A trailing slash yields
   * a trailing empty segment, so {@code /a/} and {@code /a} differ.
   *
   * @throws ValidationException when a segment is not valid percent-encoding or UTF-8, or
   *     is a dot segment
   */
  public static List<String> segments(String rawPath) {
    List<String> out = new ArrayList<>(8);
    int start = rawPath.startsWith("/") ? 1 : 0;
    int len = rawPath.length();
    while (start <= len) {
      int slash = rawPath.indexOf('/', start);
      int end = slash < 0 ? len : slash;
      String seg = decode(rawPath.substring(start, end));
      if (seg.equals(".") || seg.equals("..")) {
        throw new ValidationException("path", "must not contain '.' or '..' segments");
      }
      out.add(seg);
      if (slash < 0) {
        break;
      }
      start = slash + 1;
    }
    return out;
  }

  /** Percent-decodes one path segment as UTF-8 ({@code +} stays a plus, as in paths). */
  public static String decode(String s) {
    if (s.indexOf('%') < 0) {
      return s;
    }
    ByteArrayOutputStream out = new ByteArrayOutputStream(s.length());
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c == '%') {
        if (i + 2 >= s.length()) {
          throw new ValidationException("path", "has an incomplete percent-encoding");
        }
        int hi = Character.digit(s.charAt(i + 1), 16);
        int lo = Character.digit(s.charAt(i + 2), 16);
        if (hi < 0 || lo < 0) {
          throw new ValidationException("path", "has an invalid percent-encoding");
        }
        out.write((hi << 4) | lo);
        i += 2;
      } else if (c < 0x80) {
        out.write(c);
      } else {
        byte[] b = String.valueOf(c).getBytes(StandardCharsets.UTF_8);
        out.write(b, 0, b.length);
      }
    }
    byte[] bytes = out.toByteArray();
    String decoded = new String(bytes, StandardCharsets.UTF_8);
    if (!java.util.Arrays.equals(decoded.getBytes(StandardCharsets.UTF_8), bytes)) {
      throw new ValidationException("path", "is not valid UTF-8");
    }
    for (int i = 0; i < decoded.length(); i++) {
      char c = decoded.charAt(i);
      if (c < 0x20 || c == 0x7f) {
        throw new ValidationException("path", "must not contain control characters");
      }
    }
    return decoded;
  }
}
