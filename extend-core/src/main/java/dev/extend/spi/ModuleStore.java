package dev.extend.spi;

import dev.extend.ModuleRef;
import dev.extend.ModuleState;
import dev.extend.Page;
import java.util.Optional;

/**
 * Durable records of module builds, shared by every node.
 *
 * <p>Duties of an implementation:
 * <ol>
 *   <li>{@link #createIfAbsent} is atomic across nodes: of concurrent callers for one module
 *       exactly one gets {@code true}.
 *   <li>{@link #update} replaces state, log and artifact of an existing record.
 *   <li>Logs longer than the store keeps are truncated from the front (the tail is kept).
 *   <li>Outages surface as {@link dev.extend.UnavailableException}. Thread-safe.
 * </ol>
 */
public interface ModuleStore extends AutoCloseable {

  /** The record of a module, or empty. */
  Optional<ModuleRecord> get(ModuleRef module);

  /**
   * Creates a {@code QUEUED} record when none exists.
   *
   * @return true when this call created it
   */
  boolean createIfAbsent(ModuleRef module);

  /** Sets state, log and artifact (null unless READY) of an existing record. */
  void update(ModuleRef module, ModuleState state, String log, Artifact artifact);

  /** One page of records ordered by name then version. */
  Page<ModuleRecord> list(int limit, String cursor);

  /** Releases resources. */
  @Override
  default void close() {}

  /** A store that keeps records in memory. */
  static ModuleStore inMemory() {
    return new dev.extend.internal.memory.InMemoryModuleStore();
  }
}
