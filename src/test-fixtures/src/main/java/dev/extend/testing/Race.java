package dev.extend.testing;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.IntFunction;

/**
 * Runs tasks on many threads released at the same instant, to make races between callers of a
 * store as likely as possible, and collects what each returned or threw.
 */
public final class Race {

  /**
   * What one task did.
   *
   * @param value its result, or null when it threw
   * @param error what it threw, or null
   * @param <T> result type
   */
  public record Outcome<T>(T value, Throwable error) {
    /** Whether the task returned normally. */
    public boolean ok() {
      return error == null;
    }
  }

  private Race() {}

  /**
   * Runs {@code threads} tasks, all started together, and waits for them (at most two minutes).
   *
   * @param threads how many tasks
   * @param task makes the task of thread {@code i}
   * @return the outcomes, in thread order
   */
  public static <T> List<Outcome<T>> run(int threads, IntFunction<Callable<T>> task) throws InterruptedException {
    ExecutorService pool = Executors.newFixedThreadPool(threads);
    try {
      CountDownLatch ready = new CountDownLatch(threads);
      CountDownLatch go = new CountDownLatch(1);
      List<Future<T>> futures = new ArrayList<>();
      for (int i = 0; i < threads; i++) {
        Callable<T> c = task.apply(i);
        futures.add(pool.submit(() -> {
          ready.countDown();
          go.await();
          return c.call();
        }));
      }
      ready.await();
      go.countDown();
      List<Outcome<T>> out = new ArrayList<>();
      for (Future<T> f : futures) {
        try {
          out.add(new Outcome<>(f.get(2, TimeUnit.MINUTES), null));
        } catch (java.util.concurrent.ExecutionException e) {
          out.add(new Outcome<>(null, e.getCause()));
        } catch (java.util.concurrent.TimeoutException e) {
          throw new AssertionError("a racing task did not finish within two minutes", e);
        }
      }
      return out;
    } finally {
      pool.shutdownNow();
    }
  }
}
