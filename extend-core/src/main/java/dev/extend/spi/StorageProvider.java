package dev.extend.spi;

import java.nio.file.Path;
import java.util.Optional;
import java.util.function.UnaryOperator;

/**
 * Found through {@link java.util.ServiceLoader} when the builder was given no {@link Storage}
 * and not every store: opens the storage the platform's stores not given come from. The provider
 * of highest {@link #priority()} that offers one wins, and the platform logs which.
 */
public interface StorageProvider {

  /**
   * What a provider may use.
   *
   * @param nodeId the platform's node id
   * @param dataDir the platform's data directory
   * @param settings settings by name, named like the standalone server's environment variables
   *     ({@code EXTEND_JDBC_URL}): a Java system property of that name, else the environment
   *     variable; null when neither is set or both are blank
   */
  record Context(String nodeId, Path dataDir, UnaryOperator<String> settings) {
    /** The setting of that name, or null. */
    public String setting(String name) {
      return settings.apply(name);
    }
  }

  /** Higher wins. */
  int priority();

  /**
   * The storage, opened, or empty when this provider has none to offer here.
   *
   * @throws RuntimeException when it should offer one and cannot open it (the platform does not
   *     start: an unreachable database is not replaced by memory)
   */
  Optional<Storage> create(Context context);
}
