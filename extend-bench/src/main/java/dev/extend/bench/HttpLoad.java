package dev.extend.bench;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.StandardProtocolFamily;
import java.net.StandardSocketOptions;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;

/**
 * The bench's HTTP/1.1 client: keep-alive connections over TCP or a Unix domain socket, one
 * request outstanding per connection, a request pre-encoded once and responses parsed in place
 * (Content-Length or chunked), so the client allocates nothing per request. Sequential runs use
 * one blocking connection; load runs drive N connections from one selector thread, like wrk.
 */
final class HttpLoad {
  private static final int BUFFER = 64 * 1024;

  private HttpLoad() {}

  /** Where to send, and the request bytes sent each time. */
  record Target(String label, SocketAddress address, byte[] request) {
    static Target tcp(String label, int port, String path, String... headers) {
      return new Target(label, new InetSocketAddress("127.0.0.1", port), encode(path, "127.0.0.1:" + port, headers));
    }

    static Target unix(String label, Path socket, String path, String... headers) {
      return new Target(label, UnixDomainSocketAddress.of(socket), encode(path, "localhost", headers));
    }

    boolean isUnix() {
      return address instanceof UnixDomainSocketAddress;
    }
  }

  /** The outcome of a load run: completed requests, failures, their latencies and the wall time. */
  record LoadResult(long completed, long failed, Samples latencies, double seconds) {
    double rps() {
      return completed / seconds;
    }
  }

  static byte[] encode(String path, String host, String... headers) {
    StringBuilder sb = new StringBuilder(128).append("GET ").append(path).append(" HTTP/1.1\r\nHost: ").append(host)
        .append("\r\n");
    for (int i = 0; i + 1 < headers.length; i += 2) {
      sb.append(headers[i]).append(": ").append(headers[i + 1]).append("\r\n");
    }
    return sb.append("\r\n").toString().getBytes(StandardCharsets.US_ASCII);
  }

  static SocketChannel open(SocketAddress address) throws IOException {
    SocketChannel ch = address instanceof UnixDomainSocketAddress
        ? SocketChannel.open(StandardProtocolFamily.UNIX)
        : SocketChannel.open(StandardProtocolFamily.INET);
    if (!(address instanceof UnixDomainSocketAddress)) {
      ch.setOption(StandardSocketOptions.TCP_NODELAY, true);
    }
    ch.connect(address);
    return ch;
  }

  /**
   * Sends {@code warmup} then {@code count} requests one after another on one keep-alive
   * connection and returns the latencies of the measured ones (nanoseconds).
   */
  static Samples sequential(Target t, int warmup, int count) throws IOException {
    Samples out = new Samples(count);
    Conn c = new Conn(t);
    try {
      c.connectBlocking();
      for (int i = 0; i < warmup + count; i++) {
        long t0 = System.nanoTime();
        int status = c.exchangeBlocking();
        long dt = System.nanoTime() - t0;
        if (status < 200 || status >= 300) {
          throw new IOException(t.label + " answered " + status + ": " + c.preview());
        }
        if (i >= warmup) {
          out.add(dt);
        }
      }
    } finally {
      c.close();
    }
    return out;
  }

  /**
   * Keeps {@code connections} connections busy for {@code warmup} (not counted) and then for
   * {@code duration}, from one selector thread.
   */
  static LoadResult load(Target t, int connections, Duration warmup, Duration duration) throws IOException {
    if (!warmup.isZero()) {
      run(t, connections, warmup, false);
    }
    return run(t, connections, duration, true);
  }

  /** A load run whose figures are thrown away (JIT and connection warm-up). */
  static void warmup(Target t, int connections, Duration duration) throws IOException {
    run(t, connections, duration, false);
  }

  private static LoadResult run(Target t, int connections, Duration duration, boolean record) throws IOException {
    Samples lat = new Samples(record ? 1 << 16 : 16);
    long completed = 0;
    long failed = 0;
    List<Conn> conns = new ArrayList<>(connections);
    try (Selector selector = Selector.open()) {
      for (int i = 0; i < connections; i++) {
        Conn c = new Conn(t);
        c.connectBlocking();
        c.ch.configureBlocking(false);
        c.key = c.ch.register(selector, 0, c);
        conns.add(c);
      }
      long start = System.nanoTime();
      long end = start + duration.toNanos();
      for (Conn c : conns) {
        c.send();
      }
      long now = start;
      while (now < end) {
        selector.select(50);
        now = System.nanoTime();
        Iterator<SelectionKey> it = selector.selectedKeys().iterator();
        while (it.hasNext()) {
          SelectionKey k = it.next();
          it.remove();
          Conn c = (Conn) k.attachment();
          try {
            if (k.isValid() && k.isWritable()) {
              c.flush();
            }
            if (k.isValid() && k.isReadable()) {
              int status = c.readNonBlocking();
              if (status != 0) {
                long done = System.nanoTime();
                if (status >= 200 && status < 300) {
                  completed++;
                  if (record) {
                    lat.add(done - c.sentAt);
                  }
                } else {
                  failed++;
                }
                if (c.mustClose) {
                  c.reconnect(selector);
                }
                if (done < end) {
                  c.send();
                }
              }
            }
          } catch (IOException e) {
            failed++;
            c.reconnect(selector);
            if (System.nanoTime() < end) {
              c.send();
            }
          }
        }
      }
      double seconds = (System.nanoTime() - start) / 1e9;
      return new LoadResult(completed, failed, lat, seconds);
    } finally {
      for (Conn c : conns) {
        c.close();
      }
    }
  }

  /** One keep-alive connection and its buffers. */
  private static final class Conn {
    final Target target;
    final ByteBuffer out;
    final ByteBuffer in = ByteBuffer.allocate(BUFFER);
    SocketChannel ch;
    SelectionKey key;
    long sentAt;
    boolean mustClose;

    Conn(Target target) {
      this.target = target;
      this.out = ByteBuffer.wrap(target.request);
    }

    void connectBlocking() throws IOException {
      ch = open(target.address);
    }

    void reconnect(Selector selector) throws IOException {
      close();
      in.clear();
      mustClose = false;
      connectBlocking();
      ch.configureBlocking(false);
      key = ch.register(selector, 0, this);
    }

    /** Blocking request/response; returns the status. */
    int exchangeBlocking() throws IOException {
      out.clear();
      while (out.hasRemaining()) {
        ch.write(out);
      }
      in.clear();
      while (true) {
        if (ch.read(in) < 0) {
          throw new IOException(target.label + " closed the connection");
        }
        int len = Http.complete(in.array(), in.position());
        if (len > 0) {
          int status = Http.status(in.array());
          boolean close = Http.closes(in.array(), in.position());
          if (close) {
            close();
            connectBlocking();
          }
          return status;
        }
        if (!in.hasRemaining()) {
          throw new IOException("response larger than " + BUFFER + " bytes from " + target.label);
        }
      }
    }

    String preview() {
      return new String(in.array(), 0, Math.min(in.position(), 300), StandardCharsets.ISO_8859_1);
    }

    void send() throws IOException {
      out.clear();
      in.clear();
      sentAt = System.nanoTime();
      ch.write(out);
      key.interestOps(out.hasRemaining() ? SelectionKey.OP_WRITE | SelectionKey.OP_READ : SelectionKey.OP_READ);
    }

    void flush() throws IOException {
      ch.write(out);
      if (!out.hasRemaining()) {
        key.interestOps(SelectionKey.OP_READ);
      }
    }

    /** Reads what is there; returns the status once a whole response arrived, else 0. */
    int readNonBlocking() throws IOException {
      int n = ch.read(in);
      if (n < 0) {
        throw new IOException("closed");
      }
      int len = Http.complete(in.array(), in.position());
      if (len > 0) {
        mustClose = Http.closes(in.array(), in.position());
        return Http.status(in.array());
      }
      if (!in.hasRemaining()) {
        throw new IOException("response too large");
      }
      return 0;
    }

    void close() {
      try {
        if (ch != null) {
          ch.close();
        }
      } catch (IOException e) {
        // closing a benchmark connection
      }
    }
  }

  /**
   * Allocation-free framing of an HTTP/1.1 response held in a byte array: one pass over the
   * header block finds its end, Content-Length, chunked transfer coding and Connection: close.
   */
  static final class Http {
    private static final byte[] CONTENT_LENGTH = "content-length".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] TRANSFER_ENCODING = "transfer-encoding".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] CONNECTION = "connection".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] CHUNKED = "chunked".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] CLOSE = "close".getBytes(StandardCharsets.US_ASCII);

    private Http() {}

    static int status(byte[] a) {
      return (a[9] - '0') * 100 + (a[10] - '0') * 10 + (a[11] - '0');
    }

    /** The length of the complete response at the start of {@code a}, or -1 when more is needed. */
    static int complete(byte[] a, int len) {
      long head = scan(a, len);
      if (head < 0) {
        return -1;
      }
      int h = (int) (head & 0x7fffffff);
      long cl = (head >>> 33) - 1;
      boolean chunked = (head & (1L << 31)) != 0;
      if (cl >= 0) {
        return h + cl <= len ? (int) (h + cl) : -1;
      }
      if (chunked) {
        int pos = h;
        while (true) {
          int lineEnd = indexOfCrlf(a, pos, len);
          if (lineEnd < 0) {
            return -1;
          }
          long size = 0;
          for (int i = pos; i < lineEnd; i++) {
            int d = Character.digit(a[i], 16);
            if (d < 0) {
              break; // chunk extensions
            }
            size = size * 16 + d;
          }
          if (size == 0) {
            // no trailers are sent by the servers measured: the last chunk ends with one CRLF
            int end = lineEnd + 4;
            return end <= len ? end : -1;
          }
          pos = (int) (lineEnd + 2 + size + 2);
          if (pos > len) {
            return -1;
          }
        }
      }
      int s = status(a);
      if (s == 204 || s == 304 || s < 200) {
        return h;
      }
      return -1; // read-until-close bodies are not used by the servers measured
    }

    /** Whether the response asks to close the connection. */
    static boolean closes(byte[] a, int len) {
      long head = scan(a, len);
      return head >= 0 && (head & (1L << 32)) != 0;
    }

    /**
     * One pass over the header block. Returns -1 when it is incomplete, else its end in bits
     * 0-30, chunked in bit 31, close in bit 32 and Content-Length + 1 (0: none) from bit 33.
     */
    private static long scan(byte[] a, int len) {
      int line = indexOfCrlf(a, 0, len);
      if (line < 0) {
        return -1;
      }
      line += 2;
      long contentLength = -1;
      boolean chunked = false;
      boolean close = false;
      while (true) {
        int eol = indexOfCrlf(a, line, len);
        if (eol < 0) {
          return -1;
        }
        if (eol == line) {
          int end = eol + 2;
          return end | (chunked ? 1L << 31 : 0) | (close ? 1L << 32 : 0) | ((contentLength + 1) << 33);
        }
        int colon = -1;
        for (int i = line; i < eol; i++) {
          if (a[i] == ':') {
            colon = i;
            break;
          }
        }
        if (colon > 0) {
          int v = colon + 1;
          while (v < eol && a[v] == ' ') {
            v++;
          }
          if (nameIs(a, line, colon, CONTENT_LENGTH)) {
            long n = 0;
            while (v < eol && a[v] >= '0' && a[v] <= '9') {
              n = n * 10 + (a[v++] - '0');
            }
            contentLength = n;
          } else if (nameIs(a, line, colon, TRANSFER_ENCODING)) {
            chunked = contains(a, v, eol, CHUNKED);
          } else if (nameIs(a, line, colon, CONNECTION)) {
            close = contains(a, v, eol, CLOSE);
          }
        }
        line = eol + 2;
      }
    }

    private static boolean nameIs(byte[] a, int from, int to, byte[] lower) {
      if (to - from != lower.length) {
        return false;
      }
      for (int i = 0; i < lower.length; i++) {
        int c = a[from + i];
        if (c >= 'A' && c <= 'Z') {
          c += 32;
        }
        if (c != lower[i]) {
          return false;
        }
      }
      return true;
    }

    private static boolean contains(byte[] a, int from, int to, byte[] lower) {
      outer:
      for (int i = from; i + lower.length <= to; i++) {
        for (int j = 0; j < lower.length; j++) {
          int c = a[i + j];
          if (c >= 'A' && c <= 'Z') {
            c += 32;
          }
          if (c != lower[j]) {
            continue outer;
          }
        }
        return true;
      }
      return false;
    }

    private static int indexOfCrlf(byte[] a, int from, int len) {
      for (int i = from; i + 1 < len; i++) {
        if (a[i] == '\r' && a[i + 1] == '\n') {
          return i;
        }
      }
      return -1;
    }
  }
}
