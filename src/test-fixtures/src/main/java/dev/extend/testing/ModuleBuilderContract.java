package dev.extend.testing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.extend.ModuleRef;
import dev.extend.spi.ModuleBuilder;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.zip.GZIPInputStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The duties of every {@link ModuleBuilder}, checked offline against the fixture packages of
 * a {@link LocalNpmRegistry}: the module and its closure land in a gzip tar of
 * {@code node_modules/...}, the log receives the build's output, failures throw
 * {@link ModuleBuilder.ModuleBuildException} with the reason, and the work directory is left
 * empty.
 */
public abstract class ModuleBuilderContract {
  /** The registry serving the fixtures; started once per class. */
  protected static LocalNpmRegistry registry;

  @TempDir protected Path temp;

  @BeforeAll
  static void startRegistry() throws IOException {
    registry = LocalNpmRegistry.withFixtures();
  }

  @AfterAll
  static void stopRegistry() {
    if (registry != null) {
      registry.close();
    }
  }

  /** The builder under test, installing from {@link #registry}. */
  protected abstract ModuleBuilder builder();

  private List<String> entries(Path tarball) throws IOException {
    List<String> names = new ArrayList<>();
    try (InputStream in = new GZIPInputStream(Files.newInputStream(tarball))) {
      byte[] header = new byte[512];
      while (in.readNBytes(header, 0, 512) == 512) {
        String name = new String(header, 0, 100, StandardCharsets.UTF_8).replace("\0", "");
        String prefix = new String(header, 345, 155, StandardCharsets.UTF_8).replace("\0", "");
        if (name.isEmpty()) {
          break;
        }
        long size = Long.parseLong(new String(header, 124, 12, StandardCharsets.US_ASCII).replace("\0", "").trim(), 8);
        char type = (char) header[156];
        if (type != 'x' && type != 'L' && type != 'g') {
          names.add(prefix.isEmpty() ? name : prefix + "/" + name);
        }
        in.skipNBytes((size + 511) / 512 * 512);
      }
    }
    return names;
  }

  @Test
  void buildsTheModuleWithItsClosure() throws Exception {
    Path work = Files.createDirectories(temp.resolve("work"));
    Path out = temp.resolve("out.tgz");
    List<String> log = new CopyOnWriteArrayList<>();
    builder().build(NpmFixtures.TRANSITIVE, TestRuntimes.runtime(), TestRuntimes.distribution(), work, out, log::add);
    List<String> names = entries(out);
    assertThat(names).allSatisfy(n -> assertThat(n).startsWith("node_modules/"));
    assertThat(names).contains("node_modules/ext-top/package.json", "node_modules/ext-leaf/package.json");
    assertThat(log).isNotEmpty();
  }

  @Test
  void scopedNames() throws Exception {
    Path out = temp.resolve("scoped.tgz");
    builder().build(NpmFixtures.SCOPED, TestRuntimes.runtime(), TestRuntimes.distribution(), Files.createDirectories(temp.resolve("w2")), out, line -> { });
    assertThat(entries(out)).contains("node_modules/@extend-test/greeter/package.json");
  }

  @Test
  void failuresThrowWithTheReasonAndLeaveNoTarball() throws Exception {
    Path out = temp.resolve("broken.tgz");
    List<String> log = new CopyOnWriteArrayList<>();
    assertThatThrownBy(() -> builder().build(NpmFixtures.FAILING_INSTALL, TestRuntimes.runtime(), TestRuntimes.distribution(), Files.createDirectories(temp.resolve("w3")),
        out, log::add)).isInstanceOf(ModuleBuilder.ModuleBuildException.class);
    assertThat(Files.exists(out) && Files.size(out) > 0).isFalse();
    assertThat(String.join("\n", log)).isNotBlank();
  }

  @Test
  void unknownPackagesFail() {
    assertThatThrownBy(() -> builder().build(new ModuleRef("ext-not-published", "1.0.0"), TestRuntimes.runtime(), TestRuntimes.distribution(),
        Files.createDirectories(temp.resolve("w4")), temp.resolve("x.tgz"), line -> { }))
        .isInstanceOf(ModuleBuilder.ModuleBuildException.class);
  }
}
