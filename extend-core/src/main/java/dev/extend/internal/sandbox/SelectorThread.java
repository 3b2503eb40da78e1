package dev.extend.internal.sandbox;

import dev.extend.spi.EventLoop;
import java.io.IOException;
import java.nio.channels.ClosedSelectorException;
import java.nio.channels.SelectableChannel;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.util.concurrent.ConcurrentLinkedQueue;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An {@link EventLoop} of the platform's own: a selector on a thread of its own, running the
 * submitted tasks after each select. It serves the sandbox connections of callers that are not
 * on an attached host loop.
 */
final class SelectorThread implements EventLoop {
  private static final Logger LOG = LoggerFactory.getLogger(SelectorThread.class);

  private final Selector selector;
  private final Thread thread;
  private final ConcurrentLinkedQueue<Runnable> tasks = new ConcurrentLinkedQueue<>();
  private volatile boolean stopped;

  SelectorThread(String threadName) {
    try {
      this.selector = Selector.open();
    } catch (IOException e) {
      throw new java.io.UncheckedIOException("cannot open a selector", e);
    }
    this.thread = new Thread(this::run, threadName);
    thread.setDaemon(true);
    thread.start();
  }

  @Override
  public boolean inLoop() {
    return Thread.currentThread() == thread;
  }

  @Override
  public void execute(Runnable task) {
    if (stopped) {
      return;
    }
    tasks.add(task);
    if (!inLoop()) {
      selector.wakeup();
    }
  }

  @Override
  public SelectionKey register(SelectableChannel channel, int ops, Handler handler) throws IOException {
    return channel.register(selector, ops, handler);
  }

  private void run() {
    try {
      while (!stopped) {
        selector.select(key -> ((Handler) key.attachment()).ready(key), 1_000);
        for (Runnable t; (t = tasks.poll()) != null; ) {
          try {
            t.run();
          } catch (RuntimeException e) {
            LOG.error("agent connection task failed", e);
          }
        }
      }
    } catch (IOException | ClosedSelectorException e) {
      LOG.error("the agent connection loop stopped", e);
    } finally {
      stopped = true;
      for (SelectionKey k : selector.keys()) {
        if (k.attachment() instanceof Handler h) {
          h.closed();
        }
      }
      try {
        selector.close();
      } catch (IOException e) {
        // closing
      }
    }
  }

  void close() {
    stopped = true;
    selector.wakeup();
    try {
      thread.join(2_000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
