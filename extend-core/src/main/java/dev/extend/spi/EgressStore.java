package dev.extend.spi;

import dev.extend.ContainerName;
import dev.extend.EgressPolicy;
import java.util.Collection;
import java.util.Map;
import java.util.Optional;

/**
 * Durable storage of per-container egress policies, shared by every node.
 *
 * <p>Duties of an implementation:
 * <ol>
 *   <li>{@link #put} is atomic: a reader sees the old policy or the new one, never a mix (a mode
 *       with another write's entries); a failed put stores nothing.
 *   <li>Revisions: every {@link #put} stores a new random non-zero revision, drawn afresh for each
 *       write, so that a delete followed by a put never shows a node a revision it saw before.
 *       {@link #revisions} returns the current revision of each container that has a policy
 *       (absent: none stored), consistent with {@link #get}: once it shows a revision, {@code get}
 *       returns that write or a later one.
 *   <li>{@link #revisions} is one cheap query however many containers it is asked about (up to a
 *       node's sandboxes): nodes call it every second.
 *   <li>Visibility: a put or delete that returned is seen by every node's next call.
 *   <li>Durability: a store that persists at all persists before it returns: a put or delete
 *       that returned survives a crash (kill -9) of the process right after it.
 *   <li>Policies are returned exactly as written: mode, and entries in order.
 *   <li>When the backing storage is unreachable, methods throw
 *       {@link dev.extend.UnavailableException} promptly (bounded by a connection timeout) and
 *       recover by themselves once it is back.
 *   <li>Thread-safe.
 * </ol>
 */
public interface EgressStore extends AutoCloseable {

  /** The container's stored policy, or empty when it has none (it then follows the platform's default). */
  Optional<StoredEgressPolicy> get(ContainerName container);

  /**
   * Stores a container's policy, replacing any earlier one, under a new revision.
   *
   * @return what was stored, with its revision and time
   */
  StoredEgressPolicy put(ContainerName container, EgressPolicy policy);

  /**
   * Deletes a container's policy (it returns to the platform's default).
   *
   * @return true when there was one
   */
  boolean delete(ContainerName container);

  /**
   * The current revision of each of {@code containers} that has a stored policy; containers
   * without one are absent from the answer.
   */
  Map<ContainerName, Long> revisions(Collection<ContainerName> containers);

  /** Releases resources. */
  @Override
  default void close() {}

  /** A store that keeps policies in memory: for tests and development. */
  static EgressStore inMemory() {
    return new dev.extend.internal.memory.InMemoryEgressStore();
  }
}
