package dev.extend.modulebuild;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.extend.internal.modules.TarGz;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Packing without npm: a hand-made node_modules, read back with the engine's reader and GNU tar. */
class NodeModulesPackerTest {
  @TempDir Path tmp;

  private Path tree() throws Exception {
    Path nm = Files.createDirectories(tmp.resolve("prefix/node_modules"));
    Files.createDirectories(nm.resolve("a/bin"));
    Files.writeString(nm.resolve("a/index.js"), "module.exports = 1;\n");
    Path cli = Files.writeString(nm.resolve("a/bin/cli.js"), "#!/usr/bin/env node\n");
    Files.setPosixFilePermissions(cli, PosixFilePermissions.fromString("rwxr-xr-x"));
    Files.createDirectories(nm.resolve(".bin"));
    Files.createSymbolicLink(nm.resolve(".bin/a"), Path.of("../a/bin/cli.js"));
    // Absolute but inside the tree: kept, as a relative link.
    Files.createSymbolicLink(nm.resolve(".bin/a-abs"), nm.resolve("a/bin/cli.js").toAbsolutePath());
    // Leaving the tree: dropped.
    Files.createSymbolicLink(nm.resolve("a/passwd"), Path.of("/etc/passwd"));
    Files.createSymbolicLink(nm.resolve("a/up"), Path.of("../../.."));
    String longDir = "d".repeat(60) + "/" + "e".repeat(60) + "/" + "f".repeat(60);
    Files.createDirectories(nm.resolve("a").resolve(longDir));
    Files.writeString(nm.resolve("a").resolve(longDir).resolve("g".repeat(120) + ".js"), "long");
    Files.writeString(nm.resolve("a/ünï.js"), "accents");
    Files.createDirectories(nm.resolve("@s/b"));
    Files.writeString(nm.resolve("@s/b/package.json"), "{}");
    return nm;
  }

  @Test
  void packsFilesDirectoriesAndInsideSymlinks() throws Exception {
    Path nm = tree();
    Path out = tmp.resolve("m.tgz");
    List<String> log = new ArrayList<>();
    NodeModulesPacker.Summary s;
    try (OutputStream os = Files.newOutputStream(out)) {
      s = NodeModulesPacker.pack(nm, os, 1 << 20, log::add);
    }
    assertThat(s.symlinks()).isEqualTo(2);
    assertThat(log).hasSize(2).allMatch(l -> l.contains("points outside node_modules"));

    Path x = Files.createDirectories(tmp.resolve("x"));
    try (InputStream in = Files.newInputStream(out)) {
      TarGz.unpack(in, x);
    }
    assertThat(Files.readString(x.resolve("node_modules/a/index.js"))).isEqualTo("module.exports = 1;\n");
    assertThat(Files.readSymbolicLink(x.resolve("node_modules/.bin/a"))).isEqualTo(Path.of("../a/bin/cli.js"));
    assertThat(Files.readSymbolicLink(x.resolve("node_modules/.bin/a-abs"))).isEqualTo(Path.of("../a/bin/cli.js"));
    assertThat(Files.isExecutable(x.resolve("node_modules/a/bin/cli.js"))).isTrue();
    assertThat(x.resolve("node_modules/a/passwd")).doesNotExist();
    assertThat(Files.exists(x.resolve("node_modules/a/up"), java.nio.file.LinkOption.NOFOLLOW_LINKS)).isFalse();
    String longDir = "d".repeat(60) + "/" + "e".repeat(60) + "/" + "f".repeat(60);
    assertThat(Files.readString(x.resolve("node_modules/a").resolve(longDir).resolve("g".repeat(120) + ".js"))).isEqualTo("long");
    assertThat(Files.readString(x.resolve("node_modules/a/ünï.js"))).isEqualTo("accents");
    assertThat(x.resolve("node_modules/@s/b/package.json")).exists();

    // GNU tar reads it the same way (pax names, modes, links).
    Process p = new ProcessBuilder("tar", "tzvf", out.toString()).redirectErrorStream(true).start();
    String listing = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
    assertThat(p.exitValue()).as(listing).isZero();
    assertThat(listing).contains("node_modules/.bin/a -> ../a/bin/cli.js").contains("node_modules/a/ünï.js")
        .contains("g".repeat(120) + ".js").contains("-rwxr-xr-x 0/0");
  }

  @Test
  void sameTreeSameBytes() throws Exception {
    Path nm = tree();
    ByteArrayOutputStream a = new ByteArrayOutputStream();
    ByteArrayOutputStream b = new ByteArrayOutputStream();
    NodeModulesPacker.pack(nm, a, 1 << 20, l -> { });
    NodeModulesPacker.pack(nm, b, 1 << 20, l -> { });
    assertThat(a.toByteArray()).isEqualTo(b.toByteArray());
  }

  @Test
  void stopsAtTheSizeCap() throws Exception {
    Path nm = Files.createDirectories(tmp.resolve("big/node_modules/x"));
    byte[] noise = new byte[512 * 1024];
    new Random(1).nextBytes(noise);
    Files.write(nm.resolve("noise.bin"), noise);
    assertThatThrownBy(() -> NodeModulesPacker.pack(nm.getParent(), OutputStream.nullOutputStream(), 100_000, l -> { }))
        .isInstanceOf(NodeModulesPacker.TooLargeException.class)
        .hasMessageContaining("100000 bytes");
  }
}
