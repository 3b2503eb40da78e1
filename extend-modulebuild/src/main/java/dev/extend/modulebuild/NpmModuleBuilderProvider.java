package dev.extend.modulebuild;

import dev.extend.spi.ModuleBuilder;
import dev.extend.spi.ModuleBuilderProvider;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/**
 * Offers the {@link NpmModuleBuilder} (priority 100) to a platform that runs build workers and
 * was given no module builder: jobs run in the platform's sandbox runtime (its build sandboxes;
 * local processes only with the development runtime), the platform's private scopes are kept out
 * of other modules' builds, and the standalone worker's settings apply: the registry {@code
 * EXTEND_NPM_REGISTRY} names (default npm's), and registries with credentials in the {@code
 * .npmrc} file {@code EXTEND_NPMRC_FILE} names (read by the host's registry proxy only). Each
 * setting is a Java system property of that name, else the environment variable.
 */
public final class NpmModuleBuilderProvider implements ModuleBuilderProvider {

  /** Used by {@link java.util.ServiceLoader}. */
  public NpmModuleBuilderProvider() {}

  @Override
  public int priority() {
    return 100;
  }

  @Override
  public Optional<ModuleBuilder> create(Context context) {
    NpmModuleBuilder.Builder b = NpmModuleBuilder.builder()
        .privateScopes(context.privateScopes().toArray(String[]::new));
    String registry = context.setting("EXTEND_NPM_REGISTRY");
    if (registry != null) {
      try {
        b.registry(URI.create(registry));
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException("EXTEND_NPM_REGISTRY must be an http or https URL, was '" + registry
            + "'", e);
      }
    }
    String npmrc = context.setting("EXTEND_NPMRC_FILE");
    if (npmrc != null) {
      try {
        b.npmrc(Files.readString(Path.of(npmrc)));
      } catch (IOException e) {
        throw new UncheckedIOException("EXTEND_NPMRC_FILE: cannot read " + npmrc + ": " + e.getMessage(), e);
      }
    }
    return Optional.of(b.build());
  }
}
