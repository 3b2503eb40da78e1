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

  /** Allocation-free parsing of an HTTP/1.1 response held in a byte array. */
  static final class Http {
    private Http() {}

    static int status(byte[] a) {
      return (a[9] - '0') * 100 + (a[10] - '0') * 10 + (a[11] - '0');
    }

    /** The header block's end (index after the blank line), or -1. */
    static int headerEnd(byte[] a, int len) {
      for (int i = 3; i < len; i++) {
        if (a[i] == '\n' && a[i - 1] == '\r' && a[i - 2] == '\n' && a[i - 3] == '\r') {
          return i + 1;
        }
      }
      return -1;
    }

    /** The length of the complete response at the start of {@code a}, or -1 when more is needed. */
    static int complete(byte[] a, int len) {
      int h = headerEnd(a, len);
      if (h < 0) {
        return -1;
      }
      long cl = headerNumber(a, h, "content-length");
      if (cl >= 0) {
        return h + cl <= len ? (int) (h + cl) : -1;
      }
      if (headerContains(a, h, "transfer-encoding", "chunked")) {
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

    static boolean closes(byte[] a, int len) {
      int h = headerEnd(a, len);
      return h > 0 && headerContains(a, h, "connection", "close");
    }

    private static int indexOfCrlf(byte[] a, int from, int len) {
      for (int i = from; i + 1 < len; i++) {
        if (a[i] == '\r' && a[i + 1] == '\n') {
          return i;
        }
      }
      return -1;
    }

    /** Start of the value of header {@code name} (lower case) within the header block, or -1. */
    private static int valueStart(byte[] a, int headerEnd, String name) {
      int line = indexOfCrlf(a, 0, headerEnd) + 2;
      int n = name.length();
      while (line < headerEnd - 2) {
        int eol = indexOfCrlf(a, line, headerEnd);
        if (eol - line > n && a[line + n] == ':') {
          boolean match = true;
          for (int i = 0; i < n; i++) {
            int c = a[line + i];
            if (c >= 'A' && c <= 'Z') {
              c += 32;
            }
            if (c != name.charAt(i)) {
              match = false;
              break;
            }
          }
          if (match) {
            int v = line + n + 1;
            while (a[v] == ' ') {
              v++;
            }
            return v;
          }
        }
        line = eol + 2;
      }
      return -1;
    }

    private static long headerNumber(byte[] a, int headerEnd, String name) {
      int v = valueStart(a, headerEnd, name);
      if (v < 0) {
        return -1;
      }
      long n = 0;
      while (a[v] >= '0' && a[v] <= '9') {
        n = n * 10 + (a[v++] - '0');
      }
      return n;
    }

    private static boolean headerContains(byte[] a, int headerEnd, String name, String token) {
      int v = valueStart(a, headerEnd, name);
      if (v < 0) {
        return false;
      }
      int eol = indexOfCrlf(a, v, headerEnd);
      outer:
      for (int i = v; i + token.length() <= eol; i++) {
        for (int j = 0; j < token.length(); j++) {
          int c = a[i + j];
          if (c >= 'A' && c <= 'Z') {
            c += 32;
          }
          if (c != token.charAt(j)) {
            continue outer;
          }
        }
        return true;
      }
      return false;
    }
  }
}
