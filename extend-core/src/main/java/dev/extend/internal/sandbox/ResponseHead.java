package dev.extend.internal.sandbox;

import dev.extend.Headers;
import java.io.IOException;
import java.util.Locale;

/**
 * The head of an agent's HTTP/1.1 response, read line by line: status, the headers passed on,
 * and what frames the body. The blocking and the event-driven client share it.
 */
final class ResponseHead {
  final int status;
  private final Headers.Builder headers = Headers.builder();
  long contentLength = -1;
  boolean chunked;
  boolean close;
  String errorCode;

  /** Starts a head from its status line. */
  ResponseHead(String statusLine) throws IOException {
    if (statusLine.length() < 12 || !statusLine.startsWith("HTTP/1.")) {
      throw new IOException("malformed status line from agent: " + statusLine);
    }
    try {
      status = Integer.parseInt(statusLine.substring(9, 12));
    } catch (NumberFormatException e) {
      throw new IOException("malformed status line from agent: " + statusLine, e);
    }
  }

  /** Takes one header line (without its line break). */
  void header(String line) throws IOException {
    int colon = line.indexOf(':');
    if (colon <= 0) {
      return;
    }
    String name = line.substring(0, colon).trim().toLowerCase(Locale.ROOT);
    String value = line.substring(colon + 1).trim();
    switch (name) {
      case "content-length" -> {
        try {
          contentLength = Long.parseLong(value);
        } catch (NumberFormatException e) {
          throw new IOException("malformed content-length from agent: " + value, e);
        }
        if (contentLength < 0) {
          throw new IOException("malformed content-length from agent: " + value);
        }
        headers.add(name, value);
      }
      case "transfer-encoding" -> chunked = value.toLowerCase(Locale.ROOT).contains("chunked");
      case "connection" -> close = value.equalsIgnoreCase("close");
      case "keep-alive" -> {
        // hop-by-hop
      }
      case "x-extend-error" -> errorCode = value;
      default -> headers.add(name, value);
    }
  }

  /** The size of a chunk from its size line (extensions after ';' ignored). */
  static long chunkSize(String line) throws IOException {
    int semi = line.indexOf(';');
    long size;
    try {
      size = Long.parseLong((semi < 0 ? line : line.substring(0, semi)).trim(), 16);
    } catch (NumberFormatException e) {
      throw new IOException("malformed chunk size from agent: " + line, e);
    }
    if (size < 0) {
      throw new IOException("malformed chunk size from agent: " + line);
    }
    return size;
  }

  /** The headers passed on to the caller. */
  Headers headers() {
    return headers.build();
  }

  /** An interim answer (100 Continue): another head follows. */
  boolean interim() {
    return status >= 100 && status < 200;
  }

  /** Whether the answer to {@code method} has no body, whatever its headers say. */
  boolean bodyless(String method) {
    return method.equals("HEAD") || status == 204 || status == 304 || contentLength == 0;
  }
}
