package dev.extend;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;

/**
 * A webhook's answer: status, headers and a body streamed from the sandbox. Close it (or read
 * the body to its end) to release the connection to the sandbox.
 */
public final class InvocationResponse implements AutoCloseable {
  private final int status;
  private final Headers headers;
  private final InputStream body;
  private final boolean cold;
  private final byte[] whole;

  /**
   * Creates a response.
   *
   * @param status HTTP status
   * @param headers response headers
   * @param body the body stream
   * @param cold whether this invocation had to assign a sandbox to the container first
   */
  public InvocationResponse(int status, Headers headers, InputStream body, boolean cold) {
    this(status, headers, body, cold, null);
  }

  /**
   * Creates a response whose body arrived whole.
   *
   * @param status HTTP status
   * @param headers response headers
   * @param body the body stream (over {@code whole} when that is not null)
   * @param cold whether this invocation had to assign a sandbox to the container first
   * @param whole the complete body, or null when it streams
   */
  public InvocationResponse(int status, Headers headers, InputStream body, boolean cold, byte[] whole) {
    this.status = status;
    this.headers = headers;
    this.body = body;
    this.cold = cold;
    this.whole = whole;
  }

  /**
   * The body when it arrived whole together with the head (short answers), as a read-only
   * buffer that can be used without blocking; empty when it streams from the sandbox. It is
   * the same content as {@link #body()}: use one or the other, and close the response.
   */
  public java.util.Optional<java.nio.ByteBuffer> completeBody() {
    return whole == null ? java.util.Optional.empty()
        : java.util.Optional.of(java.nio.ByteBuffer.wrap(whole).asReadOnlyBuffer());
  }

  /** The HTTP status. */
  public int status() {
    return status;
  }

  /** The response headers. */
  public Headers headers() {
    return headers;
  }

  /** The body as a stream, read once. */
  public InputStream body() {
    return body;
  }

  /** Whether this invocation assigned a sandbox to its container (a cold start on this node). */
  public boolean cold() {
    return cold;
  }

  /** Reads the whole body. */
  public byte[] bodyBytes() {
    try (InputStream in = body) {
      return in.readAllBytes();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Reads the whole body as UTF-8 text. */
  public String bodyText() {
    return new String(bodyBytes(), StandardCharsets.UTF_8);
  }

  /** Releases the body. */
  @Override
  public void close() {
    try {
      body.close();
    } catch (IOException e) {
      // nothing left to release
    }
  }
}
