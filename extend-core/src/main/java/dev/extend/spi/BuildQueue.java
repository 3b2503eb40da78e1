package dev.extend.spi;

import dev.extend.ModuleRef;
import java.time.Duration;
import java.util.Optional;

/**
 * The queue of module builds, safe for many consumers on many nodes.
 *
 * <p>Duties of an implementation:
 * <ol>
 *   <li>{@link #enqueue} is idempotent: while a job for a module is pending or leased, enqueuing
 *       it again adds nothing.
 *   <li>{@link #take} leases one pending job (or one whose lease expired) to exactly one
 *       caller; concurrent takers never get the same job while its lease holds.
 *   <li>A job whose worker dies (lease not renewed, not completed) becomes takeable again
 *       after its lease expires, with {@code attempt} incremented.
 *   <li>{@link #complete} removes the job; {@link #renew} extends a lease the caller still
 *       holds and returns false when the lease was lost.
 *   <li>{@link #depth} counts pending and leased jobs. Thread-safe.
 * </ol>
 */
public interface BuildQueue extends AutoCloseable {

  /**
   * Queues a build of a module.
   *
   * @return true when a new job was added
   */
  boolean enqueue(ModuleRef module);

  /** Leases the oldest available job for {@code lease}, or empty when none is available. */
  Optional<BuildJob> take(String workerId, Duration lease);

  /** Extends a held lease; false when the lease was lost to another worker. */
  boolean renew(BuildJob job, String workerId, Duration lease);

  /** Removes a finished job (built or failed for good). */
  void complete(BuildJob job);

  /** Jobs pending or leased. */
  int depth();

  /** Releases resources. */
  @Override
  default void close() {}

  /** An in-process queue for a single node. */
  static BuildQueue inMemory() {
    return new dev.extend.internal.memory.InMemoryBuildQueue();
  }
}
