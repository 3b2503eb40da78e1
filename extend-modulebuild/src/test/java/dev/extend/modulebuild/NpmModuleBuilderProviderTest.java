package dev.extend.modulebuild;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.extend.spi.ModuleBuilderProvider;
import java.nio.file.Path;
import java.util.Map;
import java.util.ServiceLoader;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The module builder a platform running build workers finds when extend-modulebuild is on the class path. */
class NpmModuleBuilderProviderTest {
  private static ModuleBuilderProvider.Context context(Map<String, String> settings) {
    return new ModuleBuilderProvider.Context("n1", Path.of("data"), Set.of("corp"), settings::get);
  }

  @Test
  void serviceLoaderFindsIt() {
    assertThat(ServiceLoader.load(ModuleBuilderProvider.class).stream().map(ServiceLoader.Provider::type))
        .contains(NpmModuleBuilderProvider.class);
  }

  /** It takes the platform's runtime's job runner later ({@code forRuntime}): none of its own. */
  @Test
  void offersTheNpmBuilderWithoutAJobRunnerOfItsOwn() {
    var b = new NpmModuleBuilderProvider().create(context(Map.of("EXTEND_NPM_REGISTRY", "http://127.0.0.1:4873")))
        .orElseThrow();
    assertThat(b).isInstanceOf(NpmModuleBuilder.class);
    assertThat(((NpmModuleBuilder) b).jobRunner()).isNull();
    assertThat(b.isolating()).isFalse();
  }

  @Test
  void badSettingsFailNamingThem() {
    assertThatThrownBy(() -> new NpmModuleBuilderProvider().create(context(Map.of("EXTEND_NPM_REGISTRY", "ftp://x/"))))
        .hasMessageContaining("EXTEND_NPM_REGISTRY");
    assertThatThrownBy(() -> new NpmModuleBuilderProvider().create(context(Map.of("EXTEND_NPMRC_FILE", "/nonexistent/npmrc"))))
        .hasMessageContaining("EXTEND_NPMRC_FILE").hasMessageContaining("/nonexistent/npmrc");
  }
}
