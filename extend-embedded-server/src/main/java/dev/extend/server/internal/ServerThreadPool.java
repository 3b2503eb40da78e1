package dev.extend.server.internal;

import org.eclipse.jetty.io.EndPoint;
import org.eclipse.jetty.server.internal.HttpConnection;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.thread.Invocable.InvocationType;
import org.eclipse.jetty.util.thread.QueuedThreadPool;

/**
 * The server's thread pool, which keeps a client connection on its selector thread when a
 * webhook's answer completes the exchange there.
 *
 * <p>Jetty resumes a connection whose response completed off the request's own call stack by
 * handing it to the pool, to read the next request on a pool thread. When the completion ran on
 * a selector thread inside a {@link SelectorLoop} readiness call (the warm path of the run
 * proxy), that hand-off would cost a thread switch and a selector wake-up per request for
 * nothing: the connection is resumed on the same thread instead, right after the readiness
 * call, by asking its end point for the next bytes (or reading them when they are already
 * buffered). Everything that handling may do on that thread is non-blocking: the root handler
 * is, and passes blocking work to this pool.
 */
public final class ServerThreadPool extends QueuedThreadPool {

  /** A pool of at most {@code maxThreads} and at least {@code minThreads} threads. */
  public ServerThreadPool(int maxThreads, int minThreads) {
    super(maxThreads, minThreads);
  }

  @Override
  public void execute(Runnable job) {
    if (job instanceof HttpConnection c && SelectorLoop.deferHere(() -> resume(c))) {
      return;
    }
    super.execute(job);
  }

  private static void resume(HttpConnection c) {
    if (!c.isRequestBufferEmpty()) {
      c.run(); // the next request is already read (pipelined)
      return;
    }
    EndPoint endPoint = c.getEndPoint();
    if (!endPoint.isOpen()) {
      return;
    }
    endPoint.fillInterested(Callback.from(InvocationType.NON_BLOCKING, c::onFillable, endPoint::close));
  }
}
