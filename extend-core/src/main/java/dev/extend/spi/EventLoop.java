package dev.extend.spi;

import java.io.IOException;
import java.nio.channels.SelectableChannel;
import java.nio.channels.SelectionKey;

/**
 * A selector thread of the host's that the platform may drive its sandbox connections on. An
 * HTTP server attaches its selector threads (see
 * {@link dev.extend.ServerlessPlatform#attach(EventLoop)}); an asynchronous invocation started
 * on one of them then talks to the sandbox through that same selector, and its answer is
 * written back from that thread, with no thread hand-off on the way.
 *
 * <p>Duties of an implementation:
 * <ol>
 *   <li>{@link #execute} runs each task once, on the loop's thread, in submission order, waking
 *       the loop if it waits; tasks submitted after the loop stopped are dropped.
 *   <li>{@link #register} is called only from the loop's thread (from a task or a
 *       {@link Handler#ready} call); the handler's {@code ready} is then called on the loop's
 *       thread whenever the channel is ready for its interest set.
 *   <li>When the loop stops, or replaces its selector and cannot move a channel, it calls
 *       {@link Handler#closed()} for each registered channel still open.
 *   <li>{@link #inLoop()} is cheap (it is asked on every asynchronous invocation) and never
 *       answers true on a thread that is not running the loop.
 * </ol>
 */
public interface EventLoop {

  /** Receives readiness of one registered channel, on the loop's thread. */
  interface Handler {
    /** The channel is ready for (some of) its interest set. */
    void ready(SelectionKey key);

    /** The channel now has another key (the loop moved it to a new selector). */
    void rekeyed(SelectionKey key);

    /** The loop let the channel go (it stopped); the handler closes it. */
    void closed();
  }

  /** Whether the calling thread is running this loop right now. */
  boolean inLoop();

  /** Runs {@code task} on the loop's thread, soon. */
  void execute(Runnable task);

  /**
   * Registers a non-blocking channel with the loop's selector; called on the loop's thread.
   *
   * @return the channel's key, whose interest set the handler may change on the loop's thread
   */
  SelectionKey register(SelectableChannel channel, int ops, Handler handler) throws IOException;
}
