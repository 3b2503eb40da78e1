package dev.extend.spi;

import java.io.IOException;
import java.io.InputStream;
import java.util.Optional;

/**
 * Content-addressed storage of blobs (module tarballs).
 *
 * <p>Duties of an implementation:
 * <ol>
 *   <li>{@link #put} computes the sha256 of the content while streaming it, stores it under
 *       that digest and returns it; storing the same content twice stores it once.
 *   <li>Content is streamed in both directions, never held whole in memory (the in-memory
 *       store excepted).
 *   <li>A blob is visible to {@link #open} only once completely stored.
 *   <li>{@link #put} rejects content larger than {@code maxBytes} with
 *       {@link dev.extend.PayloadTooLargeException}, storing nothing.
 *   <li>A digest that is not 64 lower-case hex digits (or is null) names no blob:
 *       {@link #open} is empty, {@link #exists} and {@link #delete} are false.
 *   <li>Outages surface as {@link dev.extend.UnavailableException}. Thread-safe.
 * </ol>
 *
 * <p>{@link #open} need not re-check the content against its digest: the store is shared by all
 * nodes and may be tampered with, so whoever acts on the bytes verifies them (the host module
 * store compares size and sha256 with the module's record before unpacking).
 */
public interface ArtifactStore extends AutoCloseable {

  /** Stores a blob read from {@code content} and returns its address. */
  Artifact put(InputStream content, long maxBytes) throws IOException;

  /** Opens a blob for reading, or empty when there is none with this digest. */
  Optional<InputStream> open(String digest) throws IOException;

  /** Whether a blob with this digest exists. */
  boolean exists(String digest);

  /** Deletes a blob; true when it existed. */
  boolean delete(String digest);

  /** Releases resources. */
  @Override
  default void close() {}

  /** A store that keeps blobs in memory: for tests and development. */
  static ArtifactStore inMemory() {
    return new dev.extend.internal.memory.InMemoryArtifactStore();
  }
}
