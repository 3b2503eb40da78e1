package dev.extend.testing;

import static org.assertj.core.api.Assertions.assertThat;

import dev.extend.ModuleRef;
import dev.extend.spi.BuildJob;
import dev.extend.spi.BuildQueue;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The duties of {@link BuildQueue}, checked against an implementation. Subclasses return a
 * fresh, empty queue from {@link #createQueue()}. Lease expiry is exercised with leases of a
 * few hundred milliseconds and generous waits.
 */
public abstract class BuildQueueContract {

  /** The queue under test, fresh for each test. */
  protected BuildQueue queue;

  /** A new, empty queue. */
  protected abstract BuildQueue createQueue() throws Exception;

  /** Creates the queue. */
  @BeforeEach
  void openQueue() throws Exception {
    queue = createQueue();
  }

  /** Closes the queue. */
  @AfterEach
  void closeQueue() {
    if (queue != null) {
      queue.close();
    }
  }

  private static final Duration LONG = Duration.ofMinutes(5);

  private static ModuleRef module(int i) {
    return new ModuleRef("pkg-" + i, "1.0.0");
  }

  @Test
  void enqueueIsIdempotentWhilePendingOrLeased() {
    assertThat(queue.enqueue(module(1))).isTrue();
    assertThat(queue.enqueue(module(1))).isFalse();
    assertThat(queue.depth()).isEqualTo(1);

    BuildJob job = queue.take("w1", LONG).orElseThrow();
    assertThat(job.module()).isEqualTo(module(1));
    assertThat(job.attempt()).isEqualTo(1);
    assertThat(job.leaseExpiresAt()).isAfter(Instant.now());
    assertThat(queue.enqueue(module(1))).as("leased").isFalse();
    assertThat(queue.depth()).as("leased jobs count").isEqualTo(1);

    queue.complete(job);
    assertThat(queue.depth()).isZero();
    assertThat(queue.enqueue(module(1))).as("after completion").isTrue();
  }

  @Test
  void eachAbiOfAModuleIsItsOwnJob() {
    assertThat(queue.enqueue(module(1).forAbi(115))).isTrue();
    assertThat(queue.enqueue(module(1).forAbi(127))).isTrue();
    assertThat(queue.enqueue(module(1).forAbi(127))).isFalse();
    assertThat(queue.depth()).isEqualTo(2);
    BuildJob a = queue.take("w1", LONG).orElseThrow();
    BuildJob b = queue.take("w1", LONG).orElseThrow();
    assertThat(java.util.List.of(a.module(), b.module())).containsExactly(module(1).forAbi(115), module(1).forAbi(127));
  }

  @Test
  void emptyQueueHasNothingToTake() {
    assertThat(queue.take("w1", LONG)).isEmpty();
    assertThat(queue.depth()).isZero();
  }

  @Test
  void oldestJobIsTakenFirst() {
    for (int i = 1; i <= 3; i++) {
      queue.enqueue(module(i));
    }
    assertThat(queue.take("w", LONG).orElseThrow().module()).isEqualTo(module(1));
    assertThat(queue.take("w", LONG).orElseThrow().module()).isEqualTo(module(2));
    assertThat(queue.take("w", LONG).orElseThrow().module()).isEqualTo(module(3));
    assertThat(queue.take("w", LONG)).isEmpty();
    assertThat(queue.depth()).isEqualTo(3);
  }

  @Test
  void aHeldLeaseIsNotTakenAgain() {
    queue.enqueue(module(1));
    BuildJob job = queue.take("w1", LONG).orElseThrow();
    assertThat(queue.take("w2", LONG)).isEmpty();
    assertThat(queue.renew(job, "w1", LONG)).isTrue();
    assertThat(queue.take("w2", LONG)).isEmpty();
  }

  @Test
  void concurrentTakersNeverGetTheSameJob() throws InterruptedException {
    int jobs = 60;
    for (int i = 0; i < jobs; i++) {
      queue.enqueue(module(i));
    }
    Set<Long> taken = ConcurrentHashMap.newKeySet();
    List<Race.Outcome<List<BuildJob>>> outcomes = Race.run(12, t -> () -> {
      List<BuildJob> mine = new ArrayList<>();
      for (Optional<BuildJob> j; (j = queue.take("worker-" + t, LONG)).isPresent(); ) {
        mine.add(j.get());
        assertThat(taken.add(j.get().id())).as("job %s taken twice", j.get().id()).isTrue();
      }
      return mine;
    });

    Set<ModuleRef> modules = new HashSet<>();
    for (Race.Outcome<List<BuildJob>> o : outcomes) {
      assertThat(o.error()).isNull();
      o.value().forEach(j -> {
        assertThat(j.attempt()).isEqualTo(1);
        modules.add(j.module());
      });
    }
    assertThat(taken).hasSize(jobs);
    assertThat(modules).hasSize(jobs);
    assertThat(queue.depth()).isEqualTo(jobs);
    outcomes.forEach(o -> o.value().forEach(queue::complete));
    assertThat(queue.depth()).isZero();
  }

  @Test
  void concurrentEnqueuersAddOneJob() throws InterruptedException {
    List<Race.Outcome<Boolean>> outcomes = Race.run(12, i -> () -> queue.enqueue(module(7)));
    assertThat(outcomes).allMatch(Race.Outcome::ok);
    assertThat(outcomes.stream().filter(Race.Outcome::value).count()).isEqualTo(1);
    assertThat(queue.depth()).isEqualTo(1);
  }

  @Test
  void anExpiredLeaseIsTakenAgainWithTheNextAttempt() throws InterruptedException {
    queue.enqueue(module(1));
    BuildJob first = queue.take("dead-worker", Duration.ofMillis(200)).orElseThrow();
    Thread.sleep(600);

    BuildJob second = queue.take("w2", LONG).orElseThrow();
    assertThat(second.id()).isEqualTo(first.id());
    assertThat(second.module()).isEqualTo(first.module());
    assertThat(second.attempt()).isEqualTo(2);
    assertThat(queue.depth()).isEqualTo(1);

    assertThat(queue.renew(first, "dead-worker", LONG)).as("renew after the lease was lost").isFalse();
    assertThat(queue.renew(second, "w2", LONG)).isTrue();
    assertThat(queue.take("w3", LONG)).isEmpty();
  }

  @Test
  void aRenewedLeaseOutlivesItsFirstTerm() throws InterruptedException {
    queue.enqueue(module(1));
    BuildJob job = queue.take("w1", Duration.ofMillis(400)).orElseThrow();
    assertThat(queue.renew(job, "w1", LONG)).isTrue();
    Thread.sleep(800);
    assertThat(queue.take("w2", LONG)).isEmpty();
  }

  @Test
  void renewByAnotherWorkerOrOfACompletedJobFails() {
    queue.enqueue(module(1));
    BuildJob job = queue.take("w1", LONG).orElseThrow();
    assertThat(queue.renew(job, "w2", LONG)).isFalse();
    queue.complete(job);
    assertThat(queue.renew(job, "w1", LONG)).isFalse();
    assertThat(queue.depth()).isZero();
  }
}
