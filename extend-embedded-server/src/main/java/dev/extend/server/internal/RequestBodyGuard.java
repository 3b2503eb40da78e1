package dev.extend.server.internal;

import dev.extend.ExtendException;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.NanoTime;
import org.eclipse.jetty.util.thread.Invocable;
import org.eclipse.jetty.util.thread.Scheduler;

/**
 * Bounds how long a request body may take to arrive: at least {@code minRate} bytes per second
 * on average once a grace period has passed, and the whole body within a deadline. A body that
 * breaks either bound fails its reader (which answers 408, see {@link #failure(Request)}) and the
 * connection is closed after the answer, so a client trickling bytes cannot hold a connection,
 * a thread or a sandbox call for longer than the deadline.
 *
 * <p>Jetty's idle timeout alone does not do this: one byte every few seconds keeps a connection
 * from ever being idle. Jetty 12's {@code MinimumDataRateHandler} measures the bytes read by
 * all requests together, so a flood of slow bodies raises the rate it sees; this guard measures
 * each request on its own, and checks it on a timer as well as on each read, so a reader waiting
 * for bytes that never come is woken when the bound is broken.
 *
 * <p>Requests without a body pass through untouched (no wrapper, no timer).
 */
public final class RequestBodyGuard extends Handler.Wrapper {
  private static final long TICK_MS = 1000;

  private final long minRate;
  private final long graceNanos;
  private final long deadlineNanos;

  /**
   * Creates the guard.
   *
   * @param handler the handler guarded
   * @param minBytesPerSecond the least average rate once {@code grace} has passed; 0 for none
   * @param grace how long a body may arrive at any rate
   * @param deadline the longest a whole body may take, from the end of the headers; zero for none
   */
  public RequestBodyGuard(Handler handler, long minBytesPerSecond, Duration grace, Duration deadline) {
    super(handler);
    this.minRate = minBytesPerSecond;
    this.graceNanos = grace.toNanos();
    this.deadlineNanos = deadline.toNanos();
  }

  @Override
  public boolean handle(Request request, Response response, Callback callback) throws Exception {
    if ((minRate <= 0 && deadlineNanos <= 0) || !hasBody(request)) {
      return super.handle(request, response, callback);
    }
    Guarded guarded = new Guarded(request);
    guarded.arm();
    return super.handle(guarded, response, new Callback.Nested(callback) {
      @Override
      public void succeeded() {
        guarded.disarm();
        super.succeeded();
      }

      @Override
      public void failed(Throwable x) {
        guarded.disarm();
        super.failed(x);
      }
    });
  }

  private static boolean hasBody(Request request) {
    long length = request.getLength();
    return length > 0 || (length < 0 && request.getHeaders().contains(HttpHeader.TRANSFER_ENCODING));
  }

  /**
   * The error to answer when the request's body broke a bound (408 {@code request_timeout}), or
   * null when it did not.
   */
  public static ExtendException failure(Request request) {
    Guarded g = Request.as(request, Guarded.class);
    return g == null ? null : g.failure;
  }

  /** One guarded request: counts its body bytes and fails its reads once a bound is broken. */
  private final class Guarded extends Request.Wrapper {
    private final long start;
    private final AtomicReference<Runnable> pending = new AtomicReference<>();
    /** Written by the reading thread only. */
    private volatile long bytes;
    private volatile boolean done;
    private volatile ExtendException failure;
    private volatile Content.Chunk failed;
    private volatile Scheduler.Task task;

    Guarded(Request request) {
      super(request);
      long headers = request.getHeadersNanoTime();
      this.start = headers == 0 ? NanoTime.now() : headers;
    }

    void arm() {
      task = getComponents().getScheduler().schedule(this::tick, TICK_MS, TimeUnit.MILLISECONDS);
    }

    void disarm() {
      done = true;
      Scheduler.Task t = task;
      if (t != null) {
        t.cancel();
      }
    }

    @Override
    public Content.Chunk read() {
      Content.Chunk f = failed;
      if (f != null) {
        return f;
      }
      Content.Chunk chunk = super.read();
      if (chunk != null) {
        if (chunk.hasRemaining()) {
          bytes += chunk.remaining();
        }
        if (chunk.isLast()) {
          disarm();
          return chunk;
        }
      }
      String broken = check(NanoTime.now());
      if (broken != null) {
        if (chunk != null) {
          chunk.release();
        }
        return fail(broken);
      }
      return chunk;
    }

    @Override
    public void demand(Runnable demandCallback) {
      if (failed != null) {
        demandCallback.run();
        return;
      }
      // Kept so the timer can wake a reader whose bytes never come; whoever takes it runs it.
      pending.set(demandCallback);
      super.demand(Invocable.from(Invocable.getInvocationType(demandCallback), () -> {
        if (pending.compareAndSet(demandCallback, null)) {
          demandCallback.run();
        }
      }));
    }

    private void tick() {
      if (done) {
        return;
      }
      String broken = check(NanoTime.now());
      if (broken == null) {
        task = getComponents().getScheduler().schedule(this::tick, TICK_MS, TimeUnit.MILLISECONDS);
        return;
      }
      fail(broken);
      // Wake the reader on this thread: the pool may be the very thing slow clients exhaust.
      Runnable waiting = pending.getAndSet(null);
      if (waiting != null) {
        waiting.run();
      }
    }

    private Content.Chunk fail(String why) {
      synchronized (this) {
        if (failed == null) {
          ExtendException e = new ExtendException("request_timeout", 408, why);
          failure = e;
          failed = Content.Chunk.from(new java.util.concurrent.TimeoutException(why));
          done = true;
        }
        return failed;
      }
    }

    /** Why the body breaks a bound now, or null. */
    private String check(long now) {
      long elapsed = now - start;
      if (deadlineNanos > 0 && elapsed > deadlineNanos) {
        return "the request body did not arrive within " + Duration.ofNanos(deadlineNanos).toSeconds()
            + " s (" + bytes + " bytes came)";
      }
      if (minRate > 0 && elapsed > graceNanos && bytes * 1_000_000_000.0 / elapsed < minRate) {
        return "the request body arrived at less than " + minRate + " bytes/s";
      }
      return null;
    }
  }
}
