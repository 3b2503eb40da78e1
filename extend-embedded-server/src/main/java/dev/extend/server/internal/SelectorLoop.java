package dev.extend.server.internal;

import dev.extend.spi.EventLoop;
import java.io.Closeable;
import java.io.IOException;
import java.nio.channels.SelectableChannel;
import java.nio.channels.SelectionKey;
import org.eclipse.jetty.io.ManagedSelector;

/**
 * One of Jetty's selector threads as an {@link EventLoop}: the platform registers the sandbox
 * connections of the calls started on this thread with the same selector, so a webhook's answer
 * is read, and the HTTP response written, by the thread that owns the caller's connection.
 *
 * <p>Jetty hands a selected key whose attachment is a {@link ManagedSelector.Selectable} to
 * that attachment, and runs submitted updates on the selector's thread before it selects again.
 *
 * <p>When an answer completes an HTTP exchange here, Jetty resumes the client's connection by
 * handing it to its thread pool (a completion off the request's own call stack always is). The
 * server's pool passes such a non-blocking connection task back through {@link #deferHere}, and
 * it runs on this thread as soon as the readiness call that completed the exchange returns: the
 * connection goes back to reading without a thread hand-off or a selector wake-up.
 */
public final class SelectorLoop implements EventLoop {
  /** The loop whose readiness call the current thread is in, if any. */
  private static final ThreadLocal<SelectorLoop> SELECTED = new ThreadLocal<>();

  private final ManagedSelector selector;
  private final java.util.ArrayDeque<Runnable> deferred = new java.util.ArrayDeque<>();
  /** The thread last seen running the selector (the one producing, under Jetty's strategy). */
  private volatile Thread thread;

  /** Wraps a started selector. */
  public SelectorLoop(ManagedSelector selector) {
    this.selector = selector;
    selector.submit(s -> thread = Thread.currentThread());
  }

  /**
   * Takes a non-blocking task to run on this thread once the current readiness call returns;
   * false when the calling thread is not in one (the caller then executes it as usual).
   */
  public static boolean deferHere(Runnable task) {
    SelectorLoop loop = SELECTED.get();
    if (loop == null) {
      return false;
    }
    loop.deferred.add(task);
    return true;
  }

  @Override
  public boolean inLoop() {
    return Thread.currentThread() == thread;
  }

  @Override
  public void execute(Runnable task) {
    selector.submit(s -> {
      thread = Thread.currentThread();
      task.run();
    });
  }

  @Override
  public SelectionKey register(SelectableChannel channel, int ops, Handler handler) throws IOException {
    Attachment a = new Attachment(handler);
    a.key = channel.register(selector.getSelector(), ops, a);
    return a.key;
  }

  private final class Attachment implements ManagedSelector.Selectable, Closeable {
    private final Handler handler;
    private SelectionKey key;

    Attachment(Handler handler) {
      this.handler = handler;
    }

    @Override
    public Runnable onSelected() {
      thread = Thread.currentThread();
      SELECTED.set(SelectorLoop.this);
      try {
        handler.ready(key);
      } finally {
        SELECTED.remove();
      }
      for (Runnable r; (r = deferred.poll()) != null; ) {
        try {
          r.run();
        } catch (RuntimeException e) {
          org.slf4j.LoggerFactory.getLogger(SelectorLoop.class).warn("deferred connection task failed", e);
        }
      }
      return null;
    }

    @Override
    public void updateKey() {
      // the handler sets its interest set itself, on this thread
    }

    @Override
    public void replaceKey(SelectionKey newKey) {
      key = newKey;
      handler.rekeyed(newKey);
    }

    @Override
    public void close() {
      handler.closed();
    }
  }
}
