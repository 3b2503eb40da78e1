package dev.extend.containerd;

import static org.assertj.core.api.Assertions.assertThat;

import dev.extend.spi.SandboxRuntime;
import dev.extend.spi.SandboxRuntimeProvider;
import dev.extend.testing.ContainerdFixture;
import java.nio.file.Path;
import java.util.Optional;
import java.util.ServiceLoader;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Discovery of the containerd runtime through ServiceLoader, with a real private containerd. */
class ContainerdRuntimeProviderContainerdTest {
  @TempDir Path tmp;

  @Test
  void isFoundByServiceLoaderWithPriority100() {
    assertThat(ServiceLoader.load(SandboxRuntimeProvider.class).stream().map(ServiceLoader.Provider::get))
        .anySatisfy(p -> {
          assertThat(p).isInstanceOf(ContainerdRuntimeProvider.class);
          assertThat(p.priority()).isEqualTo(100);
        });
  }

  @Test
  void notUsableWithoutADaemon() {
    var ctx = new SandboxRuntimeProvider.Context("n", tmp);
    assertThat(new ContainerdRuntimeProvider().create(ctx, tmp.resolve("missing.sock"))).isEmpty();
  }

  @Test
  void usableWhenTheDaemonAnswers() throws Exception {
    try (ContainerdFixture containerd = ContainerdFixture.start()) {
      var ctx = new SandboxRuntimeProvider.Context("provided", TestData.dataDir());
      Optional<SandboxRuntime> rt = new ContainerdRuntimeProvider().create(ctx, containerd.socket());
      assertThat(rt).isPresent();
      try (SandboxRuntime runtime = rt.get()) {
        assertThat(runtime.name()).isEqualTo("containerd");
        assertThat(runtime.isolating()).isTrue();
        assertThat(runtime.problem()).isNull();
        assertThat(runtime.jobRunner()).isPresent();
      }
    }
  }
}
