package dev.extend.internal.sandbox;

import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedSelectorException;
import java.nio.channels.SelectableChannel;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import dev.extend.spi.EventLoop;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.Set;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedDeque;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The event-driven HTTP/1.1 client to the agents, for callers that must not block. Connections
 * are watched by an {@link EventLoop}: the platform's own selector thread, or a host's selector
 * thread attached to the platform (an HTTP server's), which is used when the exchange starts on
 * that thread. The answer is parsed on the loop's thread and the exchange's future completed
 * there, so a server that handles a request on its selector gets the answer back on the same
 * thread, with no hand-off at all; and under load one wake-up of a loop serves many answers,
 * where the blocking client ({@link AgentHttp}) costs a thread switch per answer.
 *
 * <p>The request (head and whole body) is written by the caller; a connection stays
 * registered for reading for its whole life, so a request on a pooled connection costs no
 * wake-up of the loop. An answer with a {@code Content-Length} up to {@link #WHOLE_MAX} is
 * delivered whole; a longer, chunked or connection-delimited one is delivered at its head, its
 * body streaming through a bounded buffer (the connection stops being read while it is full).
 *
 * <p>Dependent actions of the futures run on the loop's thread and must not block; in
 * particular a streamed body must be read on another thread.
 */
public final class AgentLoop implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(AgentLoop.class);

  /** Largest answer body delivered whole, with the head. */
  public static final int WHOLE_MAX = 256 * 1024;
  /** A streamed body's buffer: reading the connection pauses above this. */
  private static final int STREAM_HIGH = 256 * 1024;
  private static final int MAX_HEAD = 64 * 1024;
  private static final int MAX_IDLE_PER_SOCKET = 64;
  private static final long MAX_IDLE_NANOS = TimeUnit.SECONDS.toNanos(60);
  private static final long SCAN_MILLIS = 50;

  private final SelectorThread own;
  private final Loop ownState;
  private volatile Loop[] attached = new Loop[0];
  private final ScheduledExecutorService scans;
  private volatile boolean closed;

  /** One event loop and the connections it watches. */
  private final class Loop {
    final EventLoop loop;
    final Map<Path, ConcurrentLinkedDeque<Conn>> idle = new ConcurrentHashMap<>();
    final Set<Conn> conns = ConcurrentHashMap.newKeySet();
    volatile boolean detached;

    Loop(EventLoop loop) {
      this.loop = loop;
    }
  }

  /** Starts the platform's own loop thread. */
  public AgentLoop(String threadName) {
    this.own = new SelectorThread(threadName);
    this.ownState = new Loop(own);
    this.scans = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, threadName + "-timeouts");
      t.setDaemon(true);
      return t;
    });
    scans.scheduleWithFixedDelay(this::scheduleScans, SCAN_MILLIS, SCAN_MILLIS, TimeUnit.MILLISECONDS);
  }

  /**
   * Lets exchanges started on {@code loop}'s thread use connections watched by it, until the
   * returned handle is closed (which closes them).
   */
  public AutoCloseable attach(EventLoop loop) {
    Loop l = new Loop(loop);
    synchronized (this) {
      Loop[] now = Arrays.copyOf(attached, attached.length + 1);
      now[now.length - 1] = l;
      attached = now;
    }
    return () -> detach(l);
  }

  private void detach(Loop l) {
    synchronized (this) {
      attached = Arrays.stream(attached).filter(x -> x != l).toArray(Loop[]::new);
    }
    l.detached = true;
    l.idle.clear();
    for (Conn c : l.conns) {
      // the loop may be gone already: close from here; a pending exchange fails
      Exchange ex = c.ex;
      c.close();
      if (ex != null) {
        broken(c, ex, new IOException("the event loop serving this call stopped"));
      }
    }
  }

  private Loop current() {
    for (Loop l : attached) {
      if (l.loop.inLoop()) {
        return l;
      }
    }
    return ownState;
  }

  private void scheduleScans() {
    scan(ownState);
    for (Loop l : attached) {
      scan(l);
    }
  }

  /**
   * Looks for an overdue exchange from the scanning thread and wakes the loop only when there
   * is one (idle connections alone must not wake a busy server's selector 20 times a second).
   */
  private void scan(Loop l) {
    long now = System.nanoTime();
    for (Conn c : l.conns) {
      Exchange ex = c.ex;
      if (ex != null && now - ex.deadline > 0) {
        l.loop.execute(() -> scanTimeouts(l, System.nanoTime()));
        return;
      }
    }
  }

  /**
   * Sends a request whose body is wholly in memory and completes with the answer's head (and,
   * for short answers, its whole body). Fails with {@link TimeoutException} when no answer
   * came within {@code timeoutMs}; a streamed body that outlives the timeout fails its reader.
   */
  public CompletableFuture<AgentHttp.Response> exchange(Path socket, String method, String target,
      Iterable<Map.Entry<String, String>> headers, ByteBuffer body, long timeoutMs) {
    byte[] head = AgentHttp.requestHead(method, target, headers, body.remaining());
    ByteBuffer request = ByteBuffer.allocate(head.length + body.remaining()).put(head).put(body.duplicate()).flip();
    Exchange ex = new Exchange(current(), socket, method, request, body.hasRemaining(), timeoutMs);
    // Cancelled by the caller: the connection carries a request nobody waits for; close it.
    ex.future.whenComplete((r, e) -> {
      if (e instanceof java.util.concurrent.CancellationException) {
        Conn c = ex.conn.getAndSet(null);
        if (c != null) {
          c.close();
        }
      }
    });
    if (closed) {
      ex.future.completeExceptionally(new IOException("the platform is shutting down"));
      return ex.future;
    }
    send(ex, true);
    return ex.future;
  }

  /** Closes the idle connections to a socket (its sandbox ended). */
  public void forget(Path socket) {
    forget(ownState, socket);
    for (Loop l : attached) {
      forget(l, socket);
    }
  }

  private static void forget(Loop l, Path socket) {
    ConcurrentLinkedDeque<Conn> q = l.idle.remove(socket);
    if (q != null) {
      for (Conn c; (c = q.pollFirst()) != null; ) {
        c.close();
      }
    }
  }

  @Override
  public void close() {
    closed = true;
    scans.shutdownNow();
    for (Loop l : attached) {
      detach(l);
    }
    own.close();
    detach(ownState);
  }

  // ---- the caller's side ----------------------------------------------------------------------

  private void send(Exchange ex, boolean mayReuse) {
    Conn c = null;
    try {
      c = mayReuse ? pooled(ex.loop, ex.socket) : null;
      if (c == null) {
        c = open(ex.loop, ex.socket);
      }
      ex.reused = c.reused;
      ex.conn.set(c);
      c.ex = ex;
      ByteBuffer out = ex.request.duplicate();
      c.channel.write(out);
      if (out.hasRemaining()) {
        Conn conn = c;
        c.pendingWrite = out;
        ex.loop.loop.execute(() -> conn.interest(SelectionKey.OP_READ | SelectionKey.OP_WRITE));
      }
    } catch (IOException e) {
      if (c != null) {
        broken(c, ex, e);
      } else {
        ex.future.completeExceptionally(e);
      }
    }
  }

  private static Conn pooled(Loop l, Path socket) {
    ConcurrentLinkedDeque<Conn> q = l.idle.get(socket);
    if (q == null) {
      return null;
    }
    long now = System.nanoTime();
    for (Conn c; (c = q.pollFirst()) != null; ) {
      if (!c.closed && now - c.idleSince < MAX_IDLE_NANOS) {
        c.reused = true;
        return c;
      }
      c.close();
    }
    return null;
  }

  private Conn open(Loop l, Path socket) throws IOException {
    if (l.detached) {
      throw new IOException("the event loop serving this call stopped");
    }
    SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX);
    try {
      ch.connect(UnixDomainSocketAddress.of(socket));
      ch.configureBlocking(false);
    } catch (IOException | RuntimeException e) {
      ch.close();
      throw e instanceof IOException io ? io : new IOException(e);
    }
    Conn c = new Conn(this, l, socket, ch);
    l.conns.add(c);
    // registered on the loop's thread: until then an answer simply waits in the socket
    l.loop.execute(() -> {
      if (c.closed) {
        return;
      }
      try {
        c.key = l.loop.register(ch, SelectionKey.OP_READ, c);
      } catch (IOException | RuntimeException e) {
        Exchange ex = c.ex;
        if (ex != null) {
          broken(c, ex, e instanceof IOException io ? io : new IOException(e));
        } else {
          c.close();
        }
      }
    });
    return c;
  }

  /**
   * The connection of {@code ex}'s current attempt broke. Whoever notices first (the caller's
   * write, the loop's read, the timeout scan) handles it: a request without a body on a
   * reused connection that got no answer at all is sent once more on a fresh one (the agent
   * may have closed the idle connection just then); anything else fails the exchange.
   */
  private void broken(Conn c, Exchange ex, Throwable cause) {
    c.close();
    if (!ex.conn.compareAndSet(c, null)) {
      return;
    }
    if (ex.reused && !ex.hasBody && !ex.answered && !ex.timedOut) {
      send(ex, false);
      return;
    }
    ex.fail(cause);
  }

  // ---- on the loop's thread -------------------------------------------------------------------

  private void ready(Conn c, SelectionKey key) {
    try {
      if (!key.isValid()) {
        return;
      }
      if (key.isWritable()) {
        writeMore(c);
      }
      if (key.isValid() && key.isReadable()) {
        readAvailable(c);
      }
    } catch (RuntimeException e) {
      LOG.error("agent connection failed unexpectedly", e);
      Exchange ex = c.ex;
      if (ex != null) {
        broken(c, ex, e);
      } else {
        c.close();
      }
    }
  }

  private void writeMore(Conn c) {
    Exchange ex = c.ex;
    ByteBuffer out = c.pendingWrite;
    if (ex == null || out == null) {
      c.interest(SelectionKey.OP_READ);
      return;
    }
    try {
      c.channel.write(out);
      if (!out.hasRemaining()) {
        c.pendingWrite = null;
        c.interest(SelectionKey.OP_READ);
      }
    } catch (IOException e) {
      broken(c, ex, e);
    }
  }

  private void readAvailable(Conn c) {
    if (c.stream != null && c.stream.paused) {
      c.interest(0);
      return;
    }
    int n;
    try {
      n = c.channel.read(c.in);
    } catch (IOException e) {
      Exchange ex = c.ex;
      if (ex != null) {
        broken(c, ex, e);
      } else {
        discard(c);
      }
      return;
    }
    Exchange ex = c.ex;
    if (ex == null) {
      // an idle connection: the agent closed it (or, against the protocol, spoke unasked)
      discard(c);
      return;
    }
    if (n < 0) {
      if (c.state == State.BODY_TO_EOF) {
        c.stream.end();
        c.ex = null;
        ex.conn.compareAndSet(c, null);
        c.close();
      } else {
        broken(c, ex, new EOFException(ex.answered
            ? "the agent closed the connection in the middle of the answer"
            : "the agent closed the connection before answering"));
      }
      return;
    }
    if (n == 0) {
      return;
    }
    ex.answered = true;
    drain(c, ex);
  }

  /**
   * Parses what the connection's buffer holds (kept in write mode between calls); what cannot
   * be parsed yet (an incomplete line, or anything after a pause of a streamed body) stays.
   */
  private void drain(Conn c, Exchange ex) {
    c.in.flip();
    try {
      parse(c, ex);
    } catch (IOException e) {
      c.in.clear();
      broken(c, ex, e);
      return;
    }
    if (c.in.hasRemaining() && c.in.position() == 0 && c.in.limit() == c.in.capacity()) {
      // a head line longer than the buffer: grow it, within reason
      if (c.in.capacity() >= MAX_HEAD) {
        c.in.clear();
        broken(c, ex, new AgentProtocolException("a header line over " + MAX_HEAD + " bytes"));
        return;
      }
      ByteBuffer bigger = ByteBuffer.allocate(c.in.capacity() * 2).put(c.in);
      c.in = bigger;
      return;
    }
    c.in.compact();
  }

  /**
   * A streamed body's reader drained its buffer: parse what was read but held back while it
   * was full (it may hold the end of the answer, with nothing more to come from the socket),
   * then read the connection again.
   */
  private void resume(Conn c) {
    if (c.closed) {
      return;
    }
    Exchange ex = c.ex;
    if (ex != null && c.in.position() > 0) {
      drain(c, ex);
    }
    if (!c.closed && (c.stream == null || !c.stream.paused)) {
      c.interest(SelectionKey.OP_READ);
    }
  }

  private void discard(Conn c) {
    c.close();
    ConcurrentLinkedDeque<Conn> q = c.loop.idle.get(c.socket);
    if (q != null) {
      q.remove(c);
    }
    // a caller may have taken it from the pool just now
    Exchange ex = c.ex;
    if (ex != null) {
      broken(c, ex, new EOFException("the agent closed the connection"));
    }
  }

  /** Consumes what the buffer holds (read mode); leaves an incomplete line in it. */
  private void parse(Conn c, Exchange ex) throws IOException {
    ByteBuffer in = c.in;
    while (true) {
      switch (c.state) {
        case STATUS -> {
          String line = line(in);
          if (line == null) {
            return;
          }
          c.head = new ResponseHead(line, c.head != null && c.head.interim() ? c.head : null);
          c.state = State.HEADERS;
        }
        case HEADERS -> {
          String line = line(in);
          if (line == null) {
            return;
          }
          if (!line.isEmpty()) {
            c.head.header(line);
            continue;
          }
          if (c.head.interim()) {
            c.state = State.STATUS; // 100 Continue: the real answer follows
            continue;
          }
          startBody(c, ex);
          if (c.state == State.STATUS) {
            return; // answered without a body; anything after it is not ours
          }
        }
        case WHOLE -> {
          int n = Math.min(in.remaining(), c.whole.length - c.wholeAt);
          in.get(c.whole, c.wholeAt, n);
          c.wholeAt += n;
          if (c.wholeAt < c.whole.length) {
            return;
          }
          byte[] body = c.whole;
          c.whole = null;
          ResponseHead head = c.head;
          finish(c, ex, !head.close);
          ex.complete(new AgentHttp.Response(head.status, head.headers(), head.errorCode,
              new java.io.ByteArrayInputStream(body), body));
          return;
        }
        case BODY_LENGTH -> {
          if (!pushCounted(c, in)) {
            return;
          }
          if (c.left == 0) {
            endStream(c, ex);
            return;
          }
        }
        case CHUNK_SIZE -> {
          String line = line(in);
          if (line == null) {
            return;
          }
          c.left = ResponseHead.chunkSize(line);
          c.state = c.left == 0 ? State.TRAILERS : State.CHUNK_DATA;
        }
        case CHUNK_DATA -> {
          if (!pushCounted(c, in)) {
            return;
          }
          if (c.left == 0) {
            c.state = State.CHUNK_END;
          }
        }
        case CHUNK_END -> {
          String line = line(in);
          if (line == null) {
            return;
          }
          c.state = State.CHUNK_SIZE;
        }
        case TRAILERS -> {
          String line = line(in);
          if (line == null) {
            return;
          }
          if (line.isEmpty()) {
            endStream(c, ex);
            return;
          }
        }
        case BODY_TO_EOF -> {
          if (in.hasRemaining()) {
            c.stream.push(in, in.remaining());
          }
          return;
        }
        default -> throw new IllegalStateException(c.state.toString());
      }
      if (c.stream != null && c.stream.paused) {
        c.interest(0);
        return;
      }
    }
  }

  /**
   * Passes the bytes of {@code in} that belong to the current body or chunk (up to
   * {@code c.left}) to the streamed body; false when {@code in} held none.
   */
  private static boolean pushCounted(Conn c, ByteBuffer in) {
    int n = (int) Math.min(in.remaining(), c.left);
    if (n == 0) {
      return false;
    }
    c.stream.push(in, n);
    c.left -= n;
    return true;
  }

  private void startBody(Conn c, Exchange ex) {
    ResponseHead head = c.head;
    if (head.bodyless(ex.method)) {
      finish(c, ex, !head.close);
      ex.complete(new AgentHttp.Response(head.status, head.headers(), head.errorCode, InputStream.nullInputStream(),
          new byte[0]));
      return;
    }
    if (!head.chunked && head.contentLength > 0 && head.contentLength <= WHOLE_MAX) {
      c.whole = new byte[(int) head.contentLength];
      c.wholeAt = 0;
      c.state = State.WHOLE;
      return;
    }
    c.stream = new StreamBody(c);
    if (head.chunked) {
      c.state = State.CHUNK_SIZE;
    } else if (head.contentLength > 0) {
      c.left = head.contentLength;
      c.state = State.BODY_LENGTH;
    } else {
      c.state = State.BODY_TO_EOF;
    }
    ex.complete(new AgentHttp.Response(head.status, head.headers(), head.errorCode, c.stream, null));
  }

  /** A streamed body ended: the connection goes back to the pool before the reader sees the end. */
  private void endStream(Conn c, Exchange ex) {
    StreamBody stream = c.stream;
    finish(c, ex, !c.head.close);
    stream.end();
  }

  /** The answer was read to its end: the connection is free again. */
  private void finish(Conn c, Exchange ex, boolean reusable) {
    c.ex = null;
    c.state = State.STATUS;
    c.head = null;
    c.stream = null;
    boolean mine = ex.conn.compareAndSet(c, null);
    // not reusable either when the agent answered before the whole request was written: the
    // rest of it would precede the next request
    ByteBuffer unsent = c.pendingWrite;
    if (!mine || !reusable || closed || c.loop.detached || c.in.hasRemaining()
        || (unsent != null && unsent.hasRemaining())) {
      c.close();
      return;
    }
    c.idleSince = System.nanoTime();
    ConcurrentLinkedDeque<Conn> q = c.loop.idle.computeIfAbsent(c.socket, k -> new ConcurrentLinkedDeque<>());
    if (q.size() >= MAX_IDLE_PER_SOCKET) {
      c.close();
    } else {
      q.addFirst(c);
    }
  }

  private void scanTimeouts(Loop l, long now) {
    for (Conn c : l.conns) {
      Exchange ex = c.ex;
      if (ex != null && now - ex.deadline > 0) {
        ex.timedOut = true;
        broken(c, ex, new TimeoutException("no answer within " + ex.timeoutMs + " ms"));
      }
    }
  }

  /** The next line of {@code in} without its line break, or null when it is not complete. */
  private static String line(ByteBuffer in) {
    int start = in.position();
    int end = in.limit();
    byte[] a = in.array();
    for (int i = start; i < end; i++) {
      if (a[i] == '\n') {
        int to = i > start && a[i - 1] == '\r' ? i - 1 : i;
        in.position(i + 1);
        return new String(a, start, to - start, StandardCharsets.ISO_8859_1);
      }
    }
    return null;
  }

  // ---- state ---------------------------------------------------------------------------------

  private enum State { STATUS, HEADERS, WHOLE, BODY_LENGTH, CHUNK_SIZE, CHUNK_DATA, CHUNK_END, TRAILERS, BODY_TO_EOF }

  /** One request and its answer, across at most two connection attempts. */
  private static final class Exchange {
    final Loop loop;
    final Path socket;
    final String method;
    final ByteBuffer request;
    final boolean hasBody;
    final long timeoutMs;
    final long deadline;
    final CompletableFuture<AgentHttp.Response> future = new CompletableFuture<>();
    /** The connection of the current attempt; cleared by whoever ends the attempt. */
    final AtomicReference<Conn> conn = new AtomicReference<>();
    volatile boolean reused;
    volatile boolean answered;
    volatile boolean timedOut;
    /** The streamed body handed over with the head, if any. */
    volatile StreamBody stream;

    Exchange(Loop loop, Path socket, String method, ByteBuffer request, boolean hasBody, long timeoutMs) {
      this.loop = loop;
      this.socket = socket;
      this.method = method;
      this.request = request;
      this.hasBody = hasBody;
      this.timeoutMs = timeoutMs;
      this.deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMs);
    }

    void complete(AgentHttp.Response r) {
      if (r.body() instanceof StreamBody s) {
        stream = s;
      }
      future.complete(r);
    }

    void fail(Throwable cause) {
      if (!future.isDone()) {
        future.completeExceptionally(cause);
        return;
      }
      StreamBody s = stream;
      if (s != null) {
        s.fail(timedOut
            ? new IOException("the webhook's response did not complete within its timeout", cause)
            : cause instanceof IOException io ? io : new IOException(cause));
      }
    }
  }

  /** One connection to an agent. Its parse state belongs to the loop's thread. */
  private static final class Conn implements EventLoop.Handler {
    final AgentLoop owner;
    final Loop loop;
    final Path socket;
    final SocketChannel channel;
    volatile SelectionKey key;
    volatile Exchange ex;
    volatile boolean closed;
    volatile ByteBuffer pendingWrite;
    boolean reused;
    long idleSince;
    // loop-owned parse state
    ByteBuffer in = ByteBuffer.allocate(16 * 1024);
    State state = State.STATUS;
    ResponseHead head;
    byte[] whole;
    int wholeAt;
    long left;
    StreamBody stream;

    Conn(AgentLoop owner, Loop loop, Path socket, SocketChannel channel) {
      this.owner = owner;
      this.loop = loop;
      this.socket = socket;
      this.channel = channel;
    }

    /** Loop thread: sets the interest set (once registered). */
    void interest(int ops) {
      SelectionKey k = key;
      if (k != null && k.isValid() && k.interestOps() != ops) {
        k.interestOps(ops);
      }
    }

    @Override
    public void ready(SelectionKey k) {
      owner.ready(this, k);
    }

    @Override
    public void rekeyed(SelectionKey k) {
      key = k;
    }

    @Override
    public void closed() {
      Exchange ex = this.ex;
      close();
      if (ex != null) {
        owner.broken(this, ex, new IOException("the event loop serving this call stopped"));
      }
    }

    void close() {
      closed = true;
      loop.conns.remove(this);
      try {
        channel.close();
      } catch (IOException e) {
        // closing
      }
    }
  }

  /**
   * A body streamed from the loop to a reader on another thread through a bounded buffer; the
   * loop stops reading the connection while the buffer is full and resumes once it drained.
   */
  private static final class StreamBody extends InputStream {
    private final Conn conn;
    private final ArrayDeque<byte[]> chunks = new ArrayDeque<>();
    private byte[] current;
    private int currentAt;
    private int queued;
    private boolean ended;
    private IOException failure;
    private boolean readerClosed;
    volatile boolean paused;
    private final AtomicInteger aborts = new AtomicInteger();

    StreamBody(Conn conn) {
      this.conn = conn;
    }

    /** Loop thread: appends {@code n} bytes of {@code in}. */
    synchronized void push(ByteBuffer in, int n) {
      if (readerClosed) {
        in.position(in.position() + n);
        return;
      }
      byte[] b = new byte[n];
      in.get(b);
      chunks.add(b);
      queued += n;
      if (queued >= STREAM_HIGH) {
        paused = true;
      }
      notifyAll();
    }

    synchronized void end() {
      ended = true;
      notifyAll();
    }

    synchronized void fail(IOException e) {
      if (!ended) {
        failure = e;
        notifyAll();
      }
    }

    @Override
    public int read() throws IOException {
      byte[] one = new byte[1];
      int n = read(one, 0, 1);
      return n < 0 ? -1 : one[0] & 0xff;
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
      if (len == 0) {
        return 0;
      }
      boolean resume = false;
      int n;
      synchronized (this) {
        while (current == null || currentAt == current.length) {
          if (readerClosed) {
            throw new IOException("the response body is closed");
          }
          current = chunks.poll();
          currentAt = 0;
          if (current != null) {
            continue;
          }
          if (ended) {
            return -1;
          }
          if (failure != null) {
            throw failure;
          }
          try {
            wait();
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while reading the webhook's response");
          }
        }
        n = Math.min(len, current.length - currentAt);
        System.arraycopy(current, currentAt, b, off, n);
        currentAt += n;
        queued -= n;
        if (paused && queued < STREAM_HIGH / 2) {
          paused = false;
          resume = true;
        }
      }
      if (resume) {
        conn.loop.loop.execute(() -> conn.owner.resume(conn));
      }
      return n;
    }

    @Override
    public synchronized int available() {
      return (current == null ? 0 : current.length - currentAt) + queued;
    }

    @Override
    public void close() {
      boolean abort;
      synchronized (this) {
        abort = !ended && failure == null;
        readerClosed = true;
        chunks.clear();
        current = null;
        queued = 0;
        notifyAll();
      }
      if (abort && aborts.getAndIncrement() == 0) {
        // the rest of the answer is not wanted: the connection cannot be reused
        conn.loop.loop.execute(() -> {
          Exchange ex = conn.ex;
          if (ex != null && ex.stream == this) {
            conn.ex = null;
            ex.conn.compareAndSet(conn, null);
          }
          conn.close();
        });
      }
    }
  }
}
