package dev.extend.server.internal;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.extend.ContainerName;
import dev.extend.ExtendException;
import dev.extend.LogEvent;
import dev.extend.LogListener;
import dev.extend.ServerlessPlatform;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.thread.Invocable.InvocationType;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Streams a container's console output as Server-Sent Events: the last lines first, then live
 * lines, with a comment line as heartbeat so that proxies keep the connection and a vanished
 * client is noticed.
 *
 * <p>A stream holds no thread: lines are queued (bounded in count and size: a client too slow
 * to keep up loses lines and is told how many) and written asynchronously, one write at a time.
 *
 * <p>Limits: at most {@code total} streams on this server, {@code perToken} per token and
 * {@code perContainer} per container (admins are not held to the last, so a tenant filling its
 * container's share does not lock the operator out); beyond, 429 with {@code Retry-After}. A
 * stream ends when its token is revoked (at once when revoked through this server; when revoked
 * elsewhere, within {@link #REVALIDATE} as every open stream's token is checked again), when
 * its container is deleted, when the client goes, and at shutdown.
 */
public final class LogStreams {
  private static final Logger LOG = LoggerFactory.getLogger(LogStreams.class);
  private static final byte[] HEARTBEAT = ": heartbeat\n\n".getBytes(StandardCharsets.UTF_8);
  /** How often the tokens of open streams are checked again. */
  public static final Duration REVALIDATE = Duration.ofSeconds(2);
  /** Lines and characters queued per stream before lines are dropped. */
  private static final int QUEUE_LINES = 1024;
  private static final long QUEUE_CHARS = 256 * 1024;
  /** Largest write. */
  private static final int WRITE_CHARS = 32 * 1024;
  private static final String RETRY_AFTER = "5";

  private final ServerlessPlatform platform;
  private final Duration heartbeat;
  private final int total;
  private final int perToken;
  private final int perContainer;
  private final Set<Stream> open = ConcurrentHashMap.newKeySet();
  private final ScheduledExecutorService timer;
  private volatile boolean closing;

  /**
   * Creates the log streamer.
   *
   * @param platform the source of log lines
   * @param heartbeat how often an idle stream sends a heartbeat comment
   * @param total most streams open at once
   * @param perToken most streams of one token
   * @param perContainer most streams of one container (admins excepted)
   */
  public LogStreams(ServerlessPlatform platform, Duration heartbeat, int total, int perToken, int perContainer) {
    this.platform = platform;
    this.heartbeat = heartbeat;
    this.total = total;
    this.perToken = perToken;
    this.perContainer = perContainer;
    this.timer = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "extend-log-streams");
      t.setDaemon(true);
      return t;
    });
    long beat = Math.max(10, heartbeat.toMillis() / 2);
    timer.scheduleWithFixedDelay(this::heartbeats, beat, beat, TimeUnit.MILLISECONDS);
    timer.scheduleWithFixedDelay(this::revalidate, REVALIDATE.toMillis(), REVALIDATE.toMillis(), TimeUnit.MILLISECONDS);
  }

  /** Open streams (for tests and metrics). */
  public int openStreams() {
    return open.size();
  }

  /** Ends every open stream (at shutdown) and refuses new ones. */
  public void closeAll() {
    closing = true;
    for (Stream s : open) {
      s.end();
    }
    timer.shutdownNow();
  }

  /** Ends the streams of a revoked token. */
  public void closeToken(String tokenId) {
    for (Stream s : open) {
      if (s.tokenId.equals(tokenId)) {
        s.end();
      }
    }
  }

  /**
   * Starts one stream; returns at once (the stream completes the callback when it ends).
   *
   * @param principal who asked (an admin, or a token granting the container)
   * @param bearer the bearer secret, checked again while the stream lasts (null for the
   *     configured admin token, which cannot be revoked)
   * @throws ExtendException 429 beyond a limit, 503 while shutting down
   */
  void stream(ContainerName container, int replay, Auth.Principal principal, String bearer, Request request,
      Response response, Callback callback) {
    if (closing) {
      throw new Errors.Unavailable("the server is shutting down");
    }
    Stream s = new Stream(container, principal.tokenId(), principal.admin(), bearer, response, callback);
    synchronized (open) {
      refuseBeyondLimits(s);
      open.add(s);
    }
    try {
      // Subscribe before reading the replay so no line falls between the two.
      s.subscription = platform.subscribeLogs(container, s);
      request.addFailureListener(t -> s.abort(t));
      response.setStatus(200);
      response.getHeaders().put(HttpHeader.CONTENT_TYPE, "text/event-stream; charset=utf-8");
      response.getHeaders().put(HttpHeader.CACHE_CONTROL, "no-cache");
      response.getHeaders().put("X-Accel-Buffering", "no");
      List<LogEvent> recent = replay == 0 ? List.of() : platform.recentLogs(container, replay);
      s.start(recent);
    } catch (RuntimeException e) {
      s.release();
      throw e;
    }
  }

  private void refuseBeyondLimits(Stream s) {
    int ofToken = 0;
    int ofContainer = 0;
    for (Stream o : open) {
      if (o.tokenId.equals(s.tokenId)) {
        ofToken++;
      }
      if (o.container.equals(s.container)) {
        ofContainer++;
      }
    }
    String why = null;
    if (ofToken >= perToken) {
      why = "this token has " + ofToken + " log streams open, the most allowed per token";
    } else if (!s.admin && ofContainer >= perContainer) {
      why = "container " + s.container + " has " + ofContainer + " log streams open, the most allowed per container";
    } else if (open.size() >= total) {
      why = "the server has " + open.size() + " log streams open, the most it allows";
    }
    if (why != null) {
      throw new TooManyStreams(why + "; close one or retry later");
    }
  }

  /** 429: a limit on log streams is reached. */
  static final class TooManyStreams extends ExtendException {
    private static final long serialVersionUID = 1L;

    TooManyStreams(String message) {
      super("too_many_streams", 429, message);
    }

    /** Seconds to wait before retrying. */
    String retryAfter() {
      return RETRY_AFTER;
    }
  }

  private void heartbeats() {
    long now = System.nanoTime();
    for (Stream s : open) {
      s.heartbeatIfIdle(now);
    }
  }

  /** Ends the streams whose token was revoked elsewhere. */
  private void revalidate() {
    Map<String, Boolean> live = new HashMap<>();
    for (Stream s : open) {
      if (s.bearer == null) {
        continue;
      }
      Boolean ok = live.computeIfAbsent(s.bearer, b -> {
        try {
          return platform.authenticate(b).isPresent();
        } catch (RuntimeException e) {
          return true; // the store is unreachable: not a revocation
        }
      });
      if (!ok) {
        LOG.info("ending a log stream of {}: its token {} was revoked", s.container, s.tokenId);
        s.end();
      }
    }
  }

  /** One open stream: a queue of lines and at most one write in flight. */
  private final class Stream implements LogListener {
    final ContainerName container;
    final String tokenId;
    final boolean admin;
    final String bearer;
    final Response response;
    final Callback callback;
    volatile AutoCloseable subscription;
    // guarded by this
    private final ArrayDeque<LogEvent> queue = new ArrayDeque<>();
    private long queuedChars;
    private long dropped;
    private Set<LogEvent> replayed;
    private byte[] first;
    private boolean started;
    private boolean writing;
    private boolean ending;
    private boolean done;
    private boolean beat;
    private long lastWrite = System.nanoTime();

    Stream(ContainerName container, String tokenId, boolean admin, String bearer, Response response, Callback callback) {
      this.container = container;
      this.tokenId = tokenId;
      this.admin = admin;
      this.bearer = bearer;
      this.response = response;
      this.callback = callback;
    }

    void start(List<LogEvent> recent) {
      StringBuilder sb = new StringBuilder(": streaming console output of ").append(container).append("\n\n");
      for (LogEvent e : recent) {
        appendEvent(sb, e, "replay");
      }
      synchronized (this) {
        // lines logged between subscribing and reading the replay arrive twice; skip those
        replayed = recent.isEmpty() ? null : new HashSet<>(recent);
        if (replayed != null) {
          queue.removeIf(e -> {
            if (replayed.remove(e)) {
              queuedChars -= chars(e);
              return true;
            }
            return false;
          });
        }
        first = sb.toString().getBytes(StandardCharsets.UTF_8);
        started = true;
      }
      pump();
    }

    @Override
    public void onLog(LogEvent e) {
      synchronized (this) {
        if (ending) {
          return;
        }
        if (replayed != null) {
          if (replayed.remove(e)) {
            return;
          }
          replayed = null;
        }
        if (queue.size() >= QUEUE_LINES || queuedChars + chars(e) > QUEUE_CHARS) {
          dropped++;
          return;
        }
        queue.addLast(e);
        queuedChars += chars(e);
      }
      pump();
    }

    @Override
    public void onClose() {
      end(); // the container was deleted
    }

    void heartbeatIfIdle(long now) {
      synchronized (this) {
        if (now - lastWrite < heartbeat.toNanos()) {
          return;
        }
        beat = true;
      }
      pump();
    }

    /** Ends the stream cleanly after what is queued is dropped. */
    void end() {
      synchronized (this) {
        ending = true;
        queue.clear();
        queuedChars = 0;
      }
      pump();
    }

    /** The client went or the exchange failed: nothing more is written. */
    void abort(Throwable failure) {
      boolean complete;
      synchronized (this) {
        ending = true;
        complete = !done;
        done = true;
        queue.clear();
      }
      release();
      if (complete) {
        LOG.debug("log stream of {} ended: {}", container, failure.toString());
        callback.failed(failure);
      }
    }

    /** Writes what is due, unless a write is in flight. */
    private void pump() {
      ByteBuffer buf;
      boolean last;
      synchronized (this) {
        if (!started || writing || done) {
          return;
        }
        if (ending) {
          last = true;
          done = true;
          buf = first == null ? null : ByteBuffer.wrap(first);
          first = null;
        } else {
          StringBuilder sb = null;
          if (dropped > 0) {
            sb = new StringBuilder(256);
            sb.append("event: dropped\ndata: {\"lines\":").append(dropped).append("}\n\n");
            dropped = 0;
          }
          while (!queue.isEmpty() && (sb == null || sb.length() < WRITE_CHARS)) {
            LogEvent e = queue.pollFirst();
            queuedChars -= chars(e);
            if (sb == null) {
              sb = new StringBuilder(256);
            }
            appendEvent(sb, e, "log");
          }
          byte[] head = first;
          first = null;
          if (sb != null) {
            byte[] body = sb.toString().getBytes(StandardCharsets.UTF_8);
            buf = head == null ? ByteBuffer.wrap(body) : ByteBuffer.allocate(head.length + body.length).put(head).put(body).flip();
          } else if (head != null) {
            buf = ByteBuffer.wrap(head);
          } else if (beat) {
            buf = ByteBuffer.wrap(HEARTBEAT);
          } else {
            return;
          }
          beat = false;
          last = false;
        }
        writing = true;
        lastWrite = System.nanoTime();
      }
      response.write(last, buf, Callback.from(InvocationType.NON_BLOCKING, () -> written(last), this::abort));
    }

    private void written(boolean last) {
      synchronized (this) {
        writing = false;
      }
      if (last) {
        release();
        callback.succeeded();
      } else {
        pump();
      }
    }

    void release() {
      open.remove(this);
      AutoCloseable sub = subscription;
      subscription = null;
      if (sub != null) {
        try {
          sub.close();
        } catch (Exception e) {
          LOG.debug("unsubscribing a log stream failed", e);
        }
      }
    }
  }

  private static long chars(LogEvent e) {
    return 64 + (e.message() == null ? 0 : e.message().length());
  }

  private static void appendEvent(StringBuilder sb, LogEvent e, String type) {
    ObjectNode n = Json.MAPPER.createObjectNode();
    n.put("time", e.time() == null ? null : e.time().toString());
    n.put("container", e.container() == null ? null : e.container().value());
    n.put("webhook", e.webhook());
    n.put("invocationId", e.invocationId());
    n.put("level", e.level());
    n.put("message", e.message());
    // JSON never contains a raw newline, so one data line carries the event.
    sb.append("event: ").append(type).append("\ndata: ").append(n.toString()).append("\n\n");
  }
}
