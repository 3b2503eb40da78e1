package dev.extend.internal.sandbox;

import dev.extend.Headers;
import java.io.IOException;
import java.util.Locale;

/**
 * The head of an agent's HTTP/1.1 response, read line by line: status, the headers passed on,
 * and what frames the body. The blocking and the event-driven client share it.
 */
final class ResponseHead {
  /** The most header lines one answer may have, interim answers included. */
  static final int MAX_HEADER_LINES = 100;
  /** The most bytes one answer's head may have, interim answers included. */
  static final int MAX_HEAD_BYTES = 64 * 1024;
  /** The most interim (1xx) answers before the real one. */
  static final int MAX_INTERIM = 4;

  final int status;
  private final Headers.Builder headers = Headers.builder();
  long contentLength = -1;
  boolean chunked;
  boolean close;
  String errorCode;
  private int lines;
  private int bytes;
  private int interims;

  /** Starts a head from its status line. */
  ResponseHead(String statusLine) throws IOException {
    this(statusLine, null);
  }

  /**
   * Starts a head from its status line; {@code previous} is the interim answer before it, whose
   * counts carry over, so that a stream of interim answers cannot make the host read without end.
   */
  ResponseHead(String statusLine, ResponseHead previous) throws IOException {
    if (previous != null) {
      lines = previous.lines;
      bytes = previous.bytes;
      interims = previous.interims + 1;
      if (interims > MAX_INTERIM) {
        throw new AgentProtocolException("more than " + MAX_INTERIM + " interim answers");
      }
    }
    count(statusLine);
    if (statusLine.length() < 12 || !statusLine.startsWith("HTTP/1.") || statusLine.charAt(8) != ' '
        || (statusLine.length() > 12 && statusLine.charAt(12) != ' ')) {
      throw new AgentProtocolException("malformed status line");
    }
    int code = 0;
    for (int i = 9; i < 12; i++) {
      char ch = statusLine.charAt(i);
      if (ch < '0' || ch > '9') {
        throw new AgentProtocolException("malformed status line");
      }
      code = code * 10 + (ch - '0');
    }
    if (code < 100 || code > 599) {
      throw new AgentProtocolException("status " + code + " out of range");
    }
    status = code;
  }

  private void count(String line) throws AgentProtocolException {
    lines++;
    bytes += line.length() + 2;
    if (lines > MAX_HEADER_LINES + 1 + interims) {
      throw new AgentProtocolException("more than " + MAX_HEADER_LINES + " header lines");
    }
    if (bytes > MAX_HEAD_BYTES) {
      throw new AgentProtocolException("a head over " + MAX_HEAD_BYTES + " bytes");
    }
  }

  /**
   * Takes one header line (without its line break). Names must be HTTP tokens and values free
   * of CR, LF and NUL; folded lines are refused: such a header must never reach a client.
   */
  void header(String line) throws IOException {
    count(line);
    if (!line.isEmpty() && (line.charAt(0) == ' ' || line.charAt(0) == '\t')) {
      throw new AgentProtocolException("a folded header line");
    }
    int colon = line.indexOf(':');
    if (colon <= 0) {
      throw new AgentProtocolException("a header line without a name");
    }
    String rawName = line.substring(0, colon);
    if (!Headers.isToken(rawName)) {
      throw new AgentProtocolException("a header name that is not an HTTP token");
    }
    String name = rawName.toLowerCase(Locale.ROOT);
    String value = line.substring(colon + 1).trim();
    for (int i = 0; i < value.length(); i++) {
      char ch = value.charAt(i);
      if (ch == '\r' || ch == '\n' || ch == 0) {
        throw new AgentProtocolException("a header value with CR, LF or NUL");
      }
    }
    switch (name) {
      case "content-length" -> {
        long length;
        try {
          length = Long.parseLong(value);
        } catch (NumberFormatException e) {
          throw new AgentProtocolException("malformed content-length");
        }
        if (length < 0) {
          throw new AgentProtocolException("malformed content-length");
        }
        // Two lengths that disagree frame the body two ways (RFC 9112 6.3): refused. The one
        // passed on is the one the body was read by.
        if (contentLength >= 0) {
          if (length != contentLength) {
            throw new AgentProtocolException("two content-lengths that disagree");
          }
        } else {
          contentLength = length;
          headers.add(name, Long.toString(length));
        }
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

  /**
   * The headers passed on to the caller. A chunked body was not framed by its Content-Length
   * (RFC 9112 6.3: chunked wins), so that length is not passed on.
   */
  Headers headers() {
    if (chunked && contentLength >= 0) {
      headers.remove("content-length");
    }
    return headers.build();
  }

  /** An interim answer (100 Continue): another head follows. */
  boolean interim() {
    return status >= 100 && status < 200;
  }

  /** Whether the answer to {@code method} has no body, whatever its headers say. */
  boolean bodyless(String method) {
    return method.equals("HEAD") || status == 204 || status == 304 || (contentLength == 0 && !chunked);
  }
}
