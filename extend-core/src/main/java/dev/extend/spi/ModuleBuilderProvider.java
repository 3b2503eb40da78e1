package dev.extend.spi;

import java.nio.file.Path;
import java.util.Optional;
import java.util.Set;
import java.util.function.UnaryOperator;

/**
 * Found through {@link java.util.ServiceLoader} when the builder was given no {@link
 * ModuleBuilder} and runs build workers: the provider of highest {@link #priority()} that offers
 * a builder wins (e.g. {@code extend-modulebuild}'s npm builder), and the platform logs which.
 * The platform then hands it its sandbox runtime ({@link ModuleBuilder#forRuntime}).
 */
public interface ModuleBuilderProvider {

  /**
   * What a provider may use.
   *
   * @param nodeId the platform's node id
   * @param dataDir the platform's data directory
   * @param privateScopes the npm scopes (without '@') the platform declared private: a builder
   *     must keep them out of other modules' builds
   * @param settings settings by name, named like the standalone server's environment variables
   *     ({@code EXTEND_NPM_REGISTRY}): a Java system property of that name, else the environment
   *     variable; null when neither is set or both are blank
   */
  record Context(String nodeId, Path dataDir, Set<String> privateScopes, UnaryOperator<String> settings) {
    /** The setting of that name, or null. */
    public String setting(String name) {
      return settings.apply(name);
    }
  }

  /** Higher wins. */
  int priority();

  /** The builder, or empty when this provider has none to offer here. */
  Optional<ModuleBuilder> create(Context context);
}
