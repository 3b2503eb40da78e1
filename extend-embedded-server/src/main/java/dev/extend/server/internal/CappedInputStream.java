package dev.extend.server.internal;

import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;

/**
 * Passes a request body through while counting it, and fails once it grows past the cap, so a
 * chunked body of unknown length is refused as soon as it is too large, without buffering it.
 */
final class CappedInputStream extends FilterInputStream {
  private final long max;
  private long count;
  private volatile boolean exceeded;

  CappedInputStream(InputStream in, long max) {
    super(in);
    this.max = max;
  }

  /** Whether the body grew past the cap (the request must be answered 413). */
  boolean exceeded() {
    return exceeded;
  }

  @Override
  public int read() throws IOException {
    int b = super.read();
    if (b >= 0) {
      count(1);
    }
    return b;
  }

  @Override
  public int read(byte[] b, int off, int len) throws IOException {
    int n = super.read(b, off, len);
    if (n > 0) {
      count(n);
    }
    return n;
  }

  @Override
  public long skip(long n) throws IOException {
    long s = super.skip(n);
    if (s > 0) {
      count(s);
    }
    return s;
  }

  @Override
  public boolean markSupported() {
    return false;
  }

  private void count(long n) throws IOException {
    count += n;
    if (count > max) {
      exceeded = true;
      throw new IOException("request body exceeds " + max + " bytes");
    }
  }
}
