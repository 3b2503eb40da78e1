package dev.extend.server.internal;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.extend.ContainerName;
import dev.extend.LogEvent;
import dev.extend.ServerlessPlatform;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Blocker;
import org.eclipse.jetty.util.Callback;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Streams a container's console output as Server-Sent Events: the last lines first, then live
 * lines, with a comment line as heartbeat so that proxies keep the connection and a vanished
 * client is noticed. Each stream holds one request thread; the platform's listener only
 * enqueues (bounded: a client too slow to keep up loses lines and is told how many).
 */
public final class LogStreams {
  private static final Logger LOG = LoggerFactory.getLogger(LogStreams.class);
  private static final byte[] HEARTBEAT = ": heartbeat\n\n".getBytes(StandardCharsets.UTF_8);
  private static final LogEvent CLOSE = new LogEvent(null, null, null, null, null, null);

  /** Each stream holds a request thread; past this many, new ones are refused (503). */
  private static final int MAX_STREAMS = 64;

  private final ServerlessPlatform platform;
  private final Duration heartbeat;
  private final java.util.concurrent.Executor threads;
  private final Set<BlockingQueue<LogEvent>> open = ConcurrentHashMap.newKeySet();
  private volatile boolean closing;

  /**
   * Creates the log streamer.
   *
   * @param platform the source of log lines
   * @param heartbeat how often an idle stream sends a heartbeat comment
   * @param threads where streams run (not the management threads, which they would exhaust)
   */
  public LogStreams(ServerlessPlatform platform, Duration heartbeat, java.util.concurrent.Executor threads) {
    this.platform = platform;
    this.heartbeat = heartbeat;
    this.threads = threads;
  }

  /** Open streams (for tests and metrics). */
  public int openStreams() {
    return open.size();
  }

  /** Ends every open stream (at shutdown) and refuses new ones. */
  public void closeAll() {
    closing = true;
    for (BlockingQueue<LogEvent> q : open) {
      q.clear();
      q.offer(CLOSE);
    }
  }

  /** Serves one stream until the client goes away or the server closes; completes the callback. */
  void stream(ContainerName container, int replay, Request request, Response response, Callback callback) {
    threads.execute(() -> {
      try {
        serve(container, replay, request, response, callback);
      } catch (Throwable t) {
        Errors.send(response, callback, t);
      }
    });
  }

  private void serve(ContainerName container, int replay, Request request, Response response, Callback callback) {
    if (closing) {
      throw new dev.extend.UnavailableException("the server is shutting down");
    }
    if (open.size() >= MAX_STREAMS) {
      throw new dev.extend.UnavailableException("too many log streams are open (" + MAX_STREAMS + "); retry later");
    }
    BlockingQueue<LogEvent> queue = new ArrayBlockingQueue<>(1024);
    AtomicLong dropped = new AtomicLong();
    open.add(queue);
    AutoCloseable subscription = null;
    try {
      // Subscribe before reading the replay so no line falls between the two.
      subscription = platform.subscribeLogs(container, new dev.extend.LogListener() {
        @Override
        public void onLog(LogEvent e) {
          if (!queue.offer(e)) {
            dropped.incrementAndGet();
          }
        }

        @Override
        public void onClose() {
          // the container was deleted
          queue.clear();
          queue.offer(CLOSE);
        }
      });
      request.addFailureListener(t -> {
        queue.clear();
        queue.offer(CLOSE);
      });
      response.setStatus(200);
      response.getHeaders().put(HttpHeader.CONTENT_TYPE, "text/event-stream; charset=utf-8");
      response.getHeaders().put(HttpHeader.CACHE_CONTROL, "no-cache");
      response.getHeaders().put("X-Accel-Buffering", "no");

      StringBuilder first = new StringBuilder(": streaming console output of ").append(container).append("\n\n");
      java.util.List<LogEvent> recent = replay == 0 ? java.util.List.of() : platform.recentLogs(container, replay);
      for (LogEvent e : recent) {
        appendEvent(first, e, "replay");
      }
      // Lines logged between subscribing and reading the replay arrive twice; skip those.
      Set<LogEvent> replayed = recent.isEmpty() ? null : new java.util.HashSet<>(recent);
      write(response, first.toString().getBytes(StandardCharsets.UTF_8));

      while (!closing) {
        LogEvent e = queue.poll(heartbeat.toMillis(), TimeUnit.MILLISECONDS);
        if (e == CLOSE) {
          break;
        }
        if (e == null) {
          write(response, HEARTBEAT);
          continue;
        }
        if (replayed != null) {
          if (replayed.remove(e)) {
            continue;
          }
          replayed = null;
        }
        StringBuilder sb = new StringBuilder(256);
        long lost = dropped.getAndSet(0);
        if (lost > 0) {
          sb.append("event: dropped\ndata: {\"lines\":").append(lost).append("}\n\n");
        }
        appendEvent(sb, e, "log");
        // Drain what else is queued into the same write.
        LogEvent more;
        while (sb.length() < 32 * 1024 && (more = queue.poll()) != null) {
          if (more == CLOSE) {
            queue.offer(CLOSE);
            break;
          }
          appendEvent(sb, more, "log");
        }
        write(response, sb.toString().getBytes(StandardCharsets.UTF_8));
      }
      response.write(true, null, callback);
    } catch (Throwable t) {
      // A client that disconnects ends its stream here; nothing to report.
      LOG.debug("log stream of {} ended: {}", container, t.toString());
      if (response.isCommitted()) {
        callback.failed(t);
      } else {
        Errors.send(response, callback, t);
      }
    } finally {
      open.remove(queue);
      if (subscription != null) {
        try {
          subscription.close();
        } catch (Exception e) {
          LOG.debug("unsubscribing a log stream failed", e);
        }
      }
    }
  }

  private static void write(Response response, byte[] bytes) throws java.io.IOException {
    try (Blocker.Callback blocker = Blocker.callback()) {
      response.write(false, ByteBuffer.wrap(bytes), blocker);
      blocker.block();
    }
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
