package dev.extend.spi;

/**
 * A platform's stores over one backend (e.g. one database), given and closed as a whole. A
 * platform takes its stores from the storage given to its builder, else from one a {@link
 * StorageProvider} found by {@link java.util.ServiceLoader} opens (e.g. {@code
 * extend-storage-jdbc}'s), else keeps them in memory; a store given to the builder on its own
 * replaces the storage's store of that kind.
 *
 * <p>Duties of an implementation:
 * <ol>
 *   <li>Each store meets the duties of its own interface, and the stores see one another's
 *       writes at once (they are one backend).
 *   <li>The same instance of each store is returned on every call.
 *   <li>{@link #close()} releases what the stores share (connections, pools, files); the
 *       platform calls it when it closes, and when its start fails after the storage was opened
 *       for it. Closing twice does nothing more.
 *   <li>{@link #toString()} names the backend for logs (a database URL without credentials).
 * </ol>
 */
public interface Storage extends AutoCloseable {

  /** Webhooks. */
  FunctionStore functionStore();

  /** Module tarballs. */
  ArtifactStore artifactStore();

  /** Module build records. */
  ModuleStore moduleStore();

  /** The module build queue. */
  BuildQueue buildQueue();

  /** API tokens. */
  TokenStore tokenStore();

  /** Per-container egress policies. */
  EgressStore egressStore();

  /** Releases the stores' shared resources. */
  @Override
  void close();

  /**
   * Every store in this process's memory: nothing survives a restart and no other node shares
   * them. The embedded default; give it to the builder to keep a storage on the class path from
   * being used.
   */
  static Storage inMemory() {
    return new dev.extend.internal.memory.InMemoryStorage();
  }
}
