package dev.extend.internal.sandbox;

import dev.extend.Headers;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedDeque;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * A small blocking HTTP/1.1 client for the invocation hot path: the calling thread writes the
 * request to a pooled keep-alive connection on the agent's Unix socket and reads the answer
 * itself, so an invocation costs no thread hand-off at all. The response body is read straight
 * from the socket by whoever consumes it; the connection returns to its pool once the body
 * was read to its end.
 *
 * <p>A watchdog closes the connection when the invocation outlives its timeout; the blocked
 * read then fails and the caller sees {@link TimeoutException}.
 */
public final class AgentHttp implements AutoCloseable {
  /** Idle connections older than this are not reused: the agent closes them after 120 s. */
  private static final long MAX_IDLE_NANOS = TimeUnit.SECONDS.toNanos(60);
  private static final int MAX_IDLE_PER_SOCKET = 64;
  private static final byte[] CRLF = {'\r', '\n'};

  private final Map<Path, Idle> idle = new ConcurrentHashMap<>();

  /** The idle connections of one socket, counted without walking the deque. */
  private static final class Idle {
    final ConcurrentLinkedDeque<Conn> conns = new ConcurrentLinkedDeque<>();
    final java.util.concurrent.atomic.AtomicInteger count = new java.util.concurrent.atomic.AtomicInteger();

    Conn poll() {
      Conn c = conns.pollFirst();
      if (c != null) {
        count.decrementAndGet();
      }
      return c;
    }
  }
  private final ScheduledExecutorService watchdog = Executors.newSingleThreadScheduledExecutor(r -> {
    Thread t = new Thread(r, "extend-invoke-timeouts");
    t.setDaemon(true);
    return t;
  });

  /** One connection to an agent. */
  final class Conn {
    final Path socket;
    final SocketChannel channel;
    final In in;
    final OutputStream out;
    long idleSince;
    volatile boolean timedOut;

    Conn(Path socket) throws IOException {
      this.socket = socket;
      this.channel = SocketChannel.open(StandardProtocolFamily.UNIX);
      try {
        channel.connect(UnixDomainSocketAddress.of(socket));
      } catch (IOException e) {
        channel.close();
        throw e;
      }
      this.in = new In(channel);
      this.out = new java.io.BufferedOutputStream(Channels.newOutputStream(channel), 16 * 1024);
    }

    void close() {
      try {
        channel.close();
      } catch (IOException e) {
        // closing
      }
    }

    void release() {
      idleSince = System.nanoTime();
      Idle q = idle.computeIfAbsent(socket, k -> new Idle());
      if (q.count.incrementAndGet() > MAX_IDLE_PER_SOCKET) {
        q.count.decrementAndGet();
        close();
      } else {
        q.conns.addFirst(this);
      }
    }
  }

  private Conn acquire(Path socket) throws IOException {
    Idle q = idle.get(socket);
    if (q != null) {
      long now = System.nanoTime();
      for (Conn c; (c = q.poll()) != null; ) {
        if (c.channel.isOpen() && now - c.idleSince < MAX_IDLE_NANOS) {
          return c;
        }
        c.close();
      }
    }
    return new Conn(socket);
  }

  /** Closes the idle connections to a socket (its sandbox ended). */
  public void forget(Path socket) {
    Idle q = idle.remove(socket);
    if (q != null) {
      q.conns.forEach(Conn::close);
    }
  }

  /** The caller's request body failed while it was being sent. */
  public static final class RequestBodyException extends IOException {
    private static final long serialVersionUID = 1L;

    RequestBodyException(Throwable cause) {
      super("the request body could not be read: " + cause.getMessage(), cause);
    }
  }

  /**
   * A response whose head was read; its body streams from the connection, or was received
   * whole before the response was handed over ({@code whole} is then not null).
   */
  public record Response(int status, Headers headers, String errorCode, InputStream body, byte[] whole) {}

  /**
   * Sends one request and reads the response head.
   *
   * @param target request target, e.g. {@code /_extend/run/hook/rest?q}
   * @param headers headers to send (already filtered), excluding framing headers
   * @param body the request body, read once
   * @param length its length, or -1 to send it chunked
   */
  public Response exchange(Path socket, String method, String target, Iterable<Map.Entry<String, String>> headers,
      InputStream body, long length, long timeoutMs) throws IOException, TimeoutException {
    Conn c = acquire(socket);
    ScheduledFuture<?> timer = watchdog.schedule(() -> {
      c.timedOut = true;
      c.close();
    }, timeoutMs, TimeUnit.MILLISECONDS);
    boolean reused = c.idleSince != 0;
    try {
      c.out.write(requestHead(method, target, headers, length));
      boolean hasBody = length != 0;
      if (hasBody) {
        writeBody(c.out, body, length);
      }
      c.out.flush();
      Response r = readResponse(c, timer, method);
      if (r == null && reused && !hasBody) {
        // the agent closed this keep-alive connection just before our request: once more, fresh
        timer.cancel(false);
        c.close();
        return exchange(socket, method, target, headers, InputStream.nullInputStream(), 0, timeoutMs);
      }
      if (r == null) {
        throw new EOFException("the agent closed the connection before answering");
      }
      return r;
    } catch (RequestBodyException e) {
      timer.cancel(false);
      c.close();
      throw e;
    } catch (IOException e) {
      timer.cancel(false);
      c.close();
      if (c.timedOut) {
        throw new TimeoutException("no answer within " + timeoutMs + " ms");
      }
      throw e;
    }
  }

  /** The request line and headers of a request to an agent, with its framing header. */
  static byte[] requestHead(String method, String target, Iterable<Map.Entry<String, String>> headers,
      long length) {
    StringBuilder sb = new StringBuilder(256);
    sb.append(method).append(' ').append(target).append(" HTTP/1.1\r\nHost: localhost\r\n");
    for (Map.Entry<String, String> h : headers) {
      String v = h.getValue();
      // headers were parsed by an HTTP server or built by the host application; never forward
      // a name or value that would split or corrupt the request
      if (!Headers.isToken(h.getKey()) || v.indexOf('\r') >= 0 || v.indexOf('\n') >= 0) {
        continue;
      }
      sb.append(h.getKey()).append(": ").append(v).append("\r\n");
    }
    if (length > 0) {
      sb.append("Content-Length: ").append(length).append("\r\n");
    } else if (length < 0) {
      sb.append("Transfer-Encoding: chunked\r\n");
    }
    sb.append("\r\n");
    return sb.toString().getBytes(StandardCharsets.UTF_8);
  }

  private static void writeBody(OutputStream out, InputStream body, long length) throws IOException {
    byte[] buf = new byte[16 * 1024];
    if (length > 0) {
      long left = length;
      while (left > 0) {
        int n = readBody(body, buf, (int) Math.min(buf.length, left));
        if (n < 0) {
          throw new RequestBodyException(new EOFException("the body ended " + left + " bytes short of its length"));
        }
        out.write(buf, 0, n);
        left -= n;
      }
      return;
    }
    for (int n; (n = readBody(body, buf, buf.length)) >= 0; ) {
      if (n == 0) {
        continue;
      }
      out.write(Integer.toHexString(n).getBytes(StandardCharsets.US_ASCII));
      out.write(CRLF);
      out.write(buf, 0, n);
      out.write(CRLF);
    }
    out.write(new byte[] {'0', '\r', '\n', '\r', '\n'});
  }

  private static int readBody(InputStream body, byte[] buf, int max) throws RequestBodyException {
    try {
      return body.read(buf, 0, max);
    } catch (IOException | RuntimeException e) {
      throw new RequestBodyException(e);
    }
  }

  private Response readResponse(Conn c, ScheduledFuture<?> timer, String method) throws IOException {
    ResponseHead previous = null;
    while (true) {
      String statusLine = readLine(c.in);
      if (statusLine == null) {
        return null;
      }
      ResponseHead head = new ResponseHead(statusLine, previous);
      previous = head;
      for (String line; (line = readLine(c.in)) != null && !line.isEmpty(); ) {
        head.header(line);
      }
      if (head.interim()) {
        continue; // interim answers (100 Continue) carry no body
      }
      InputStream body;
      byte[] whole = null;
      if (head.bodyless(method)) {
        timer.cancel(false);
        if (head.close) {
          c.close();
        } else {
          c.release();
        }
        whole = new byte[0];
        body = InputStream.nullInputStream();
      } else if (head.chunked) {
        body = new Body(c, timer, new Chunked(c.in), !head.close);
      } else if (head.contentLength > 0) {
        body = new Body(c, timer, new Bounded(c.in, head.contentLength), !head.close);
      } else {
        body = new Body(c, timer, c.in, false); // delimited by the end of the connection
      }
      return new Response(head.status, head.headers(), head.errorCode, body, whole);
    }
  }

  private static String readLine(InputStream in) throws IOException {
    byte[] line = LINE.get();
    int n = 0;
    for (int b; (b = in.read()) >= 0; ) {
      if (b == '\n') {
        if (n > 0 && line[n - 1] == '\r') {
          n--;
        }
        return new String(line, 0, n, StandardCharsets.ISO_8859_1);
      }
      if (n == line.length) {
        if (n >= 64 * 1024) {
          throw new AgentProtocolException("a header line over " + (64 * 1024) + " bytes");
        }
        line = java.util.Arrays.copyOf(line, n * 2);
        LINE.set(line);
      }
      line[n++] = (byte) b;
    }
    if (n == 0) {
      return null;
    }
    throw new EOFException("connection closed in the middle of a header");
  }

  /** Per-thread line buffer: header lines are read by the invoking thread. */
  private static final ThreadLocal<byte[]> LINE = ThreadLocal.withInitial(() -> new byte[256]);

  /**
   * A buffered reader of one connection, without the per-call locking of
   * {@link java.io.BufferedInputStream}: a connection is used by one thread at a time.
   */
  static final class In extends InputStream {
    private final SocketChannel channel;
    private final java.nio.ByteBuffer buf = java.nio.ByteBuffer.allocate(16 * 1024).flip();

    In(SocketChannel channel) {
      this.channel = channel;
    }

    private boolean fill() throws IOException {
      buf.clear();
      int n = channel.read(buf);
      buf.flip();
      return n > 0;
    }

    @Override
    public int read() throws IOException {
      if (!buf.hasRemaining() && !fill()) {
        return -1;
      }
      return buf.get() & 0xff;
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
      if (len == 0) {
        return 0;
      }
      if (!buf.hasRemaining() && !fill()) {
        return -1;
      }
      int n = Math.min(len, buf.remaining());
      buf.get(b, off, n);
      return n;
    }

    @Override
    public int available() {
      return buf.remaining();
    }
  }

  /** A response body: returns the connection to its pool once read to the end. */
  private static final class Body extends InputStream {
    private final Conn conn;
    private final ScheduledFuture<?> timer;
    private final InputStream framed;
    private final boolean reusable;
    private boolean done;

    Body(Conn conn, ScheduledFuture<?> timer, InputStream framed, boolean reusable) {
      this.conn = conn;
      this.timer = timer;
      this.framed = framed;
      this.reusable = reusable;
    }

    @Override
    public int read() throws IOException {
      byte[] one = new byte[1];
      int n = read(one, 0, 1);
      return n < 0 ? -1 : one[0] & 0xff;
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
      if (done) {
        return -1;
      }
      int n;
      try {
        n = framed.read(b, off, len);
      } catch (IOException e) {
        finish(false);
        if (conn.timedOut) {
          throw new IOException("the webhook's response did not complete within its timeout", e);
        }
        throw e;
      }
      if (n < 0) {
        finish(reusable);
      }
      return n;
    }

    @Override
    public int available() throws IOException {
      return done ? 0 : framed.available();
    }

    private void finish(boolean reuse) {
      if (done) {
        return;
      }
      done = true;
      timer.cancel(false);
      if (reuse && !conn.timedOut) {
        conn.release();
      } else {
        conn.close();
      }
    }

    @Override
    public void close() {
      if (done) {
        return;
      }
      // a small unread remainder is drained so the connection can be reused
      try {
        byte[] buf = new byte[8192];
        long budget = 64 * 1024;
        while (budget > 0 && framed.available() > 0) {
          int n = framed.read(buf, 0, buf.length);
          if (n < 0) {
            finish(reusable);
            return;
          }
          budget -= n;
        }
      } catch (IOException e) {
        // fall through: not reusable
      }
      finish(false);
    }
  }

  /** Exactly {@code length} bytes of the underlying stream. */
  private static final class Bounded extends InputStream {
    private final InputStream in;
    private long left;

    Bounded(InputStream in, long length) {
      this.in = in;
      this.left = length;
    }

    @Override
    public int read() throws IOException {
      throw new UnsupportedOperationException();
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
      if (left <= 0) {
        return -1;
      }
      int n = in.read(b, off, (int) Math.min(len, left));
      if (n < 0) {
        throw new EOFException("the agent's response ended " + left + " bytes early");
      }
      left -= n;
      return n;
    }

    @Override
    public int available() throws IOException {
      return left <= 0 ? 1 : (int) Math.min(in.available(), left); // 1: a read would return -1 at once
    }
  }

  /** The de-chunked body of a chunked response. */
  private static final class Chunked extends InputStream {
    private final InputStream in;
    private long left;
    private boolean eof;

    Chunked(InputStream in) {
      this.in = in;
    }

    @Override
    public int read() throws IOException {
      throw new UnsupportedOperationException();
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
      if (eof) {
        return -1;
      }
      if (left == 0) {
        String size = readLine(in);
        if (size == null) {
          throw new EOFException("chunked response ended early");
        }
        left = ResponseHead.chunkSize(size);
        if (left == 0) {
          for (String trailer; (trailer = readLine(in)) != null && !trailer.isEmpty(); ) {
            // trailers are not passed on
          }
          eof = true;
          return -1;
        }
      }
      int n = in.read(b, off, (int) Math.min(len, left));
      if (n < 0) {
        throw new EOFException("chunked response ended early");
      }
      left -= n;
      if (left == 0) {
        readLine(in); // CRLF after the chunk
      }
      return n;
    }

    @Override
    public int available() throws IOException {
      return eof ? 1 : in.available();
    }
  }

  @Override
  public void close() {
    watchdog.shutdownNow();
    idle.values().forEach(q -> q.conns.forEach(Conn::close));
    idle.clear();
  }
}
