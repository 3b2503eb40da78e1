package dev.extend;

import java.io.ByteArrayInputStream;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.Locale;
import java.util.Objects;

/**
 * An HTTP-shaped request to a webhook: method, the path below the webhook ({@code /} by
 * default), the raw query string, headers and a body. The body is a stream read once, so a
 * large request can be forwarded without being held in memory.
 */
public final class InvocationRequest {

  private final String method;
  private final String path;
  private final String query;
  private final Headers headers;
  private final InputStream body;
  private final long contentLength;
  private final byte[] whole;

  private InvocationRequest(Builder b) {
    this.method = b.method;
    this.path = b.path;
    this.query = b.query;
    this.headers = b.headers.build();
    this.body = b.body;
    this.contentLength = b.contentLength;
    this.whole = b.whole;
  }

  /** Starts a request; defaults: {@code POST /}, no query, no headers, empty body. */
  public static Builder builder() {
    return new Builder();
  }

  /** A {@code POST /} with a JSON body. */
  public static InvocationRequest json(String json) {
    return builder().header("content-type", "application/json").body(json).build();
  }

  /** A {@code GET /}. */
  public static InvocationRequest get() {
    return builder().method("GET").build();
  }

  /** The HTTP method, upper case. */
  public String method() {
    return method;
  }

  /** The path below the webhook, starting with {@code /}. */
  public String path() {
    return path;
  }

  /** The raw query string without {@code ?}, or null. */
  public String query() {
    return query;
  }

  /** The request headers. */
  public Headers headers() {
    return headers;
  }

  /** The body stream; read it once. */
  public InputStream body() {
    return body;
  }

  /**
   * The body when it was given whole (as bytes or text, or none at all), as a read-only
   * buffer; empty when it streams. Such a request can be sent without blocking.
   */
  public java.util.Optional<java.nio.ByteBuffer> completeBody() {
    return whole == null ? java.util.Optional.empty()
        : java.util.Optional.of(java.nio.ByteBuffer.wrap(whole).asReadOnlyBuffer());
  }

  /** The body length in bytes, or -1 when unknown (streamed). */
  public long contentLength() {
    return contentLength;
  }

  /** Builds an {@link InvocationRequest}. */
  public static final class Builder {
    private String method = "POST";
    private String path = "/";
    private String query;
    private final Headers.Builder headers = Headers.builder();
    private byte[] whole = new byte[0];
    private InputStream body = InputStream.nullInputStream();
    private long contentLength = 0;

    private Builder() {}

    /** Sets the method (an HTTP token). */
    public Builder method(String method) {
      Objects.requireNonNull(method, "method");
      if (!isMethodToken(method)) {
        throw new ValidationException("method", "is not a valid HTTP method");
      }
      this.method = method.toUpperCase(Locale.ROOT);
      return this;
    }

    /** An HTTP token of 1 to 32 characters. */
    private static boolean isMethodToken(String m) {
      return m.length() <= 32 && Headers.isToken(m);
    }

    /** Sets the path below the webhook; must start with {@code /}. */
    public Builder path(String path) {
      if (path == null || path.isEmpty()) {
        path = "/";
      }
      if (path.charAt(0) != '/') {
        throw new ValidationException("path", "must start with '/'");
      }
      for (int i = 0; i < path.length(); i++) {
        char c = path.charAt(i);
        if (c < 0x21 || c == 0x7f) {
          throw new ValidationException("path", "must not contain spaces or control characters");
        }
      }
      this.path = path;
      return this;
    }

    /** Sets the raw query string (without {@code ?}), or null. */
    public Builder query(String query) {
      this.query = query == null || query.isEmpty() ? null : query;
      return this;
    }

    /** Adds a header. */
    public Builder header(String name, String value) {
      headers.add(name, value);
      return this;
    }

    /** Adds all the given headers. */
    public Builder headers(Headers all) {
      all.forEach(headers::add);
      return this;
    }

    /** Sets a UTF-8 text body. */
    public Builder body(String text) {
      return body(text.getBytes(StandardCharsets.UTF_8));
    }

    /** Sets a byte body. */
    public Builder body(byte[] bytes) {
      this.body = new ByteArrayInputStream(bytes);
      this.contentLength = bytes.length;
      this.whole = bytes;
      return this;
    }

    /** Sets a streamed body of the given length (-1 when unknown). */
    public Builder body(InputStream stream, long length) {
      this.body = Objects.requireNonNull(stream, "stream");
      this.contentLength = length;
      this.whole = null;
      return this;
    }

    /** Builds the request. */
    public InvocationRequest build() {
      return new InvocationRequest(this);
    }
  }
}
