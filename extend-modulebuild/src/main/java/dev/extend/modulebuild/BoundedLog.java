package dev.extend.modulebuild;

import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.function.Consumer;

/**
 * Passes log lines on until half the budget is spent, then keeps only the most recent lines
 * within the other half and passes those on at {@link #flush()}. A build log thus keeps both
 * its beginning (what was installed) and its end (why it failed), whatever npm prints.
 */
final class BoundedLog implements Consumer<String> {
  private final Consumer<String> downstream;
  private final long headBudget;
  private final long tailBudget;
  private long headBytes;
  private final ArrayDeque<String> tail = new ArrayDeque<>();
  private long tailBytes;
  private long dropped;

  BoundedLog(Consumer<String> downstream, long maxBytes) {
    this.downstream = downstream;
    this.headBudget = maxBytes / 2;
    this.tailBudget = maxBytes - headBudget;
  }

  @Override
  public synchronized void accept(String line) {
    long size = line.getBytes(StandardCharsets.UTF_8).length + 1L;
    if (tail.isEmpty() && dropped == 0 && headBytes + size <= headBudget) {
      headBytes += size;
      downstream.accept(line);
      return;
    }
    tail.addLast(line);
    tailBytes += size;
    while (tailBytes > tailBudget && !tail.isEmpty()) {
      tailBytes -= tail.removeFirst().getBytes(StandardCharsets.UTF_8).length + 1L;
      dropped++;
    }
  }

  /** Passes on the kept tail (after a note on how many lines were left out). */
  synchronized void flush() {
    if (dropped > 0) {
      downstream.accept("... " + dropped + " lines of output left out ...");
      dropped = 0;
    }
    while (!tail.isEmpty()) {
      downstream.accept(tail.removeFirst());
    }
    tailBytes = 0;
    // Lines arriving after a flush go straight to the tail again, keeping order.
    headBytes = headBudget;
  }
}
