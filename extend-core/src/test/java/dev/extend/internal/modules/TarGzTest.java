package dev.extend.internal.modules;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.apache.commons.compress.archivers.tar.TarConstants;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Unpacking hostile archives for real: each attack runs against a scratch target directory with
 * a sentinel directory beside it, and must leave both as they were (the target empty) with a
 * clean {@link ArtifactRefusedException} that names the entry and quotes no content.
 */
class TarGzTest {
  static final String SECRET = "SECRET-CONTENT-7f3a";

  @TempDir Path scratch;
  Path target;
  Path sentinel;

  @BeforeEach
  void layout() throws IOException {
    target = Files.createDirectory(scratch.resolve("target"));
    sentinel = Files.createDirectory(scratch.resolve("sentinel"));
    Files.writeString(sentinel.resolve("keep.txt"), "untouched");
  }

  /** Everything under the scratch directory outside the target, without following links. */
  private TreeMap<String, String> outside() throws IOException {
    TreeMap<String, String> all = new TreeMap<>();
    try (Stream<Path> s = Files.walk(scratch)) {
      for (Path p : (Iterable<Path>) s::iterator) {
        if (p.startsWith(target)) {
          continue;
        }
        String kind = Files.isSymbolicLink(p) ? "link" : Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS) ? "dir"
            : "file:" + Files.readString(p);
        all.put(scratch.relativize(p).toString(), kind);
      }
    }
    return all;
  }

  private void unpack(byte[] tgz) throws IOException {
    TarGz.unpack(new ByteArrayInputStream(tgz), target);
  }

  private void unpack(byte[] tgz, TarGz.Limits limits) throws IOException {
    TarGz.unpack(new ByteArrayInputStream(tgz), target, limits);
  }

  /** Unpacks, expects a refusal mentioning each fragment, and checks that nothing was written anywhere. */
  private ArtifactRefusedException refused(byte[] tgz, String... fragments) throws IOException {
    return refused(tgz, TarGz.Limits.DEFAULT, fragments);
  }

  private ArtifactRefusedException refused(byte[] tgz, TarGz.Limits limits, String... fragments) throws IOException {
    TreeMap<String, String> before = outside();
    Throwable t = org.assertj.core.api.Assertions.catchThrowable(() -> unpack(tgz, limits));
    assertThat(t).isInstanceOf(ArtifactRefusedException.class);
    assertThat(t.getMessage()).contains(fragments).doesNotContain(SECRET);
    assertThat(outside()).as("nothing written outside the target").isEqualTo(before);
    try (Stream<Path> s = Files.list(target)) {
      assertThat(s.toList()).as("the target is left empty").isEmpty();
    }
    assertThat(Path.of("/ESCAPED.txt")).doesNotExist();
    return (ArtifactRefusedException) t;
  }

  // ---- what must work ---------------------------------------------------------------------

  @Test
  void unpacksFilesDirectoriesAndLinksThatStayInside() throws IOException {
    String longDir = "d".repeat(90) + "/" + "e".repeat(90);
    unpack(new Tarball()
        .dir("node_modules")
        .dir("node_modules/pkg")
        .file("node_modules/pkg/index.js", "module.exports = 1;")
        .file("node_modules/pkg/cli.js", "#!/usr/bin/env node", 04755)
        .file("./node_modules/pkg/" + longDir + "/deep.js", "deep")
        .file("node_modules/implicit/parent/dirs.js", "made")
        .dir("node_modules/.bin")
        .symlink("node_modules/.bin/pkg", "../pkg/cli.js")
        .symlink("node_modules/self", ".")
        .symlink("node_modules/pkg/up-to-root", "../..")
        .symlink("node_modules/pkg/dangling", "not/there")
        .symlink("node_modules/index", "pkg//./index.js")
        .dir("node_modules/pkg") // a directory named twice is fine
        .gz());

    Path nm = target.resolve("node_modules");
    assertThat(nm.resolve("pkg/index.js")).hasContent("module.exports = 1;");
    assertThat(nm.resolve("pkg").resolve(longDir).resolve("deep.js")).hasContent("deep");
    assertThat(nm.resolve("implicit/parent/dirs.js")).hasContent("made");
    assertThat(Files.readSymbolicLink(nm.resolve(".bin/pkg"))).isEqualTo(Path.of("../pkg/cli.js"));
    assertThat(Files.readSymbolicLink(nm.resolve("self"))).isEqualTo(Path.of("."));
    assertThat(Files.readSymbolicLink(nm.resolve("pkg/up-to-root"))).isEqualTo(Path.of("../.."));
    assertThat(Files.readSymbolicLink(nm.resolve("index"))).as("written in normal form").isEqualTo(Path.of("pkg/index.js"));
    assertThat(nm.resolve(".bin/pkg")).hasContent("#!/usr/bin/env node");
    assertThat(mode(nm.resolve("pkg/cli.js"))).as("no setuid, executable by all").isEqualTo("rwxr-xr-x");
    assertThat(mode(nm.resolve("pkg/index.js"))).isEqualTo("rw-r--r--");
    assertThat(mode(nm.resolve("pkg"))).isEqualTo("rwxr-xr-x");
    assertThat(mode(nm.resolve("implicit/parent"))).isEqualTo("rwxr-xr-x");
  }

  @Test
  void gnuLongNamesAndLinks() throws IOException {
    String longName = "node_modules/" + "n".repeat(150) + "/x.js";
    String longLink = "../" + "n".repeat(150) + "/x.js";
    unpack(new Tarball().gnuLongNames().file(longName, "long").symlink("node_modules/l/" + "k".repeat(120), longLink).gz());
    assertThat(target.resolve(longName)).hasContent("long");
    assertThat(target.resolve("node_modules/l/" + "k".repeat(120))).hasContent("long");
  }

  @Test
  void aFallbackNameCutMidCharacterDoesNotMatterWhenPaxCarriesTheName() throws IOException {
    byte[] cut = "node_modules/caf\u00e9".getBytes(StandardCharsets.UTF_8);
    cut = java.util.Arrays.copyOf(cut, cut.length - 1); // half of the é: not UTF-8
    byte[] content = pad("ok".getBytes(StandardCharsets.UTF_8));
    unpack(Tarball.rawGz(true, Tarball.pax("path", "node_modules/cafe.js"), Tarball.header(cut, '0', 2, ""), content));
    assertThat(target.resolve("node_modules/cafe.js")).hasContent("ok");
    dev.extend.internal.FileTrees.deleteTree(target.resolve("node_modules"));
    refused(Tarball.rawGz(true, Tarball.header(cut, '0', 2, ""), content), "not valid UTF-8");
  }

  @Test
  void nonAsciiNamesNeedAUtf8FileSystemEncoding() throws IOException {
    byte[] tgz = new Tarball().file("node_modules/ünïcode/ß.js", "x").symlink("node_modules/ä", "ünïcode/ß.js").gz();
    if ("UTF-8".equalsIgnoreCase(System.getProperty("sun.jnu.encoding"))) {
      unpack(tgz);
      assertThat(target.resolve("node_modules/ä")).hasContent("x");
    } else { // a JVM without a UTF-8 locale cannot name these files: refused, never mangled
      refused(tgz, "not a valid file name here");
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"gnu", "pax", "ustar"})
  void archivesOfGnuTarInEachFormat(String format) throws Exception {
    Path src = Files.createDirectories(scratch.resolve("src/node_modules/pkg"));
    String longDir = "a".repeat(80) + "/" + "b".repeat(80);
    Files.createDirectories(src.resolve(longDir));
    Files.writeString(src.resolve(longDir).resolve("f.js"), "in a long path");
    Files.writeString(src.resolve("index.js"), "index");
    Files.createDirectories(src.resolveSibling(".bin"));
    Files.createSymbolicLink(src.resolveSibling(".bin/pkg"), Path.of("../pkg/index.js"));
    Path tgz = scratch.resolve(format + ".tgz");
    Process p = new ProcessBuilder("tar", "--format=" + format, "-czf", tgz.toString(), "-C",
        scratch.resolve("src").toString(), "node_modules").inheritIO().start();
    assertThat(p.waitFor()).isZero();

    unpack(Files.readAllBytes(tgz));
    assertThat(target.resolve("node_modules/pkg").resolve(longDir).resolve("f.js")).hasContent("in a long path");
    assertThat(target.resolve("node_modules/.bin/pkg")).hasContent("index");
  }

  // ---- the attacks --------------------------------------------------------------------------

  @Test
  void aChainOfLinksToDotCannotCarryAnEntryOutside() throws IOException {
    refused(new Tarball()
        .symlink("l1", ".")
        .symlink("l1/l1/l1/up", "../sentinel") // l1 is the target itself: this is the sentinel
        .file("up/ESCAPED.txt", SECRET)
        .gz(), "'l1/l1/l1/up'", "parent 'l1' is a symbolic link");
  }

  @Test
  void theChainAgainstTheRealRoot() throws IOException {
    // What the unpacker before these rules wrote as root: /ESCAPED.txt
    refused(new Tarball().symlink("l1", ".").symlink("l1/l1/l1/up", "../../..").file("up/ESCAPED.txt", SECRET).gz(),
        "parent 'l1' is a symbolic link");
  }

  @ParameterizedTest
  @ValueSource(strings = {"../sentinel/ESCAPED.txt", "a/../../sentinel/ESCAPED.txt", "a/b/../../../ESCAPED.txt", ".."})
  void dotDotInNames(String name) throws IOException {
    refused(new Tarball().file("fine.txt", "ok").file(name, SECRET).gz(), "'..' is not allowed");
  }

  @Test
  void absoluteNames() throws IOException {
    String abs = sentinel.resolve("ESCAPED.txt").toString();
    refused(new Tarball().file(abs, SECRET).gz(), "absolute names are not allowed");
    refused(new Tarball().dir("/" + sentinel.resolve("newdir")).gz(), "absolute names are not allowed");
  }

  @ParameterizedTest
  @ValueSource(strings = {"/etc", "/", "//etc/passwd"})
  void absoluteLinkTargets(String link) throws IOException {
    refused(new Tarball().symlink("node_modules/x", link).gz(), "'node_modules/x'", "absolute path");
  }

  @ParameterizedTest
  @ValueSource(strings = {"..", "../../sentinel", "../node_modules/../../x", "./../../.."})
  void linkTargetsThatLeave(String link) throws IOException {
    // at depth 1: one ".." reaches the root, which is fine, two leave it
    byte[] tgz = new Tarball().symlink("node_modules/x", link).gz();
    if (link.equals("..")) {
      unpack(tgz);
      assertThat(Files.readSymbolicLink(target.resolve("node_modules/x"))).isEqualTo(Path.of(".."));
      return;
    }
    refused(tgz, "'node_modules/x'");
  }

  @Test
  void aDotDotAfterANameIsRefusedBecauseTheNameMayBeALink() throws IOException {
    // a/b/L is the root, so a/b/L/../.. is the root's parent, though it reads as "a"
    refused(new Tarball()
        .symlink("a/b/L", "../..")
        .symlink("M", "a/b/L/../..")
        .gz(), "'M'", "climbs after descending");
  }

  @Test
  void anEntryBelowALinkIsRefusedEvenWhenTheLinkStaysInside() throws IOException {
    refused(new Tarball().dir("real").symlink("alias", "real").file("alias/file.txt", SECRET).gz(),
        "'alias/file.txt'", "parent 'alias' is a symbolic link");
    refused(new Tarball().symlink("out", "../sentinel").gz(), "'out'");
    refused(new Tarball().file("plain", "x").file("plain/child", SECRET).gz(), "parent 'plain' is not a directory");
  }

  @Test
  void hardLinksAreRefused() throws IOException {
    refused(new Tarball().hardlink("hostname", "/etc/hostname").gz(), "'hostname'", "hard links are not allowed");
    refused(new Tarball().file("a", "x").hardlink("b", "a").gz(), "'b'", "hard links are not allowed");
  }

  @Test
  void devicesAndFifosAreRefused() throws IOException {
    refused(new Tarball().special("pipe", TarConstants.LF_FIFO).gz(), "'pipe'", "FIFOs are not allowed");
    refused(new Tarball().special("tty", TarConstants.LF_CHR).gz(), "'tty'", "character devices");
    refused(new Tarball().special("disk", TarConstants.LF_BLK).gz(), "'disk'", "block devices");
    refused(Tarball.rawGz(true, Tarball.header("vol", 'V', 0, "")), "'vol'", "type 'V'");
  }

  @Test
  void duplicateEntriesAreRefused() throws IOException {
    refused(new Tarball().symlink("a", "b").file("a", SECRET).gz(), "'a'", "duplicate entry");
    refused(new Tarball().file("a", "one").file("a", SECRET).gz(), "'a'", "duplicate entry");
    refused(new Tarball().file("a", "one").symlink("a", "b").gz(), "'a'", "duplicate entry");
    refused(new Tarball().file("a", "one").dir("a").gz(), "'a/'", "duplicate entry");
    refused(new Tarball().symlink("d", ".").dir("d").gz(), "'d/'", "duplicate entry");
  }

  @Test
  void manyEntries() throws IOException {
    Tarball t = new Tarball();
    for (int i = 0; i < 60; i++) {
      t.file("f" + i, "x");
    }
    refused(t.gz(), new TarGz.Limits(1 << 20, 50, 4096, 128, 65536), "more than 50 entries");
    Tarball deep = new Tarball();
    for (int i = 0; i < 10; i++) {
      deep.file("d" + i + "/a/b/c/d/e/f", "x"); // few headers, many implicit directories
    }
    refused(deep.gz(), new TarGz.Limits(1 << 20, 50, 4096, 128, 65536), "more than 50 files, directories and links");
  }

  @Test
  void aHugeDeclaredSizeFailsBeforeAnythingIsWritten() throws IOException {
    byte[] h = Tarball.header("node_modules/bomb.bin", '0', 1L << 40, "");
    refused(Tarball.rawGz(false, h, new byte[4096]), "'node_modules/bomb.bin'", "1099511627776 bytes would exceed");
  }

  @Test
  void theTotalOfAllFilesIsBounded() throws IOException {
    String big = "z".repeat(600 * 1024);
    refused(new Tarball().file("one", big).file("two", big).gz(), new TarGz.Limits(1 << 20, 100, 4096, 128, 65536),
        "'two'", "exceed the limit of 1048576 unpacked bytes");
  }

  @Test
  void extendedHeadersAreBounded() throws IOException {
    String huge = "p".repeat(100) + "/" + "q".repeat(70_000);
    refused(new Tarball().file(huge, SECRET).gz(), "extended header of", "larger than the limit of 65536");
    refused(new Tarball().gnuLongNames().file(huge, SECRET).gz(), "extended header of", "larger than the limit");
    refused(new Tarball().file(("n".repeat(250) + "/").repeat(20) + "x", SECRET).gz(), "longer than 4096 bytes");
    refused(new Tarball().file("d/".repeat(200) + "x", SECRET).gz(), "deeper than 128 directories");
    refused(new Tarball().file("c".repeat(256), SECRET).gz(), "component is longer than 255 bytes");
  }

  @Test
  void corruptAndTruncatedArchives() throws IOException {
    byte[] h = Tarball.header("a", '0', 3, "");
    h[0] = 'b'; // checksum no longer matches
    refused(Tarball.rawGz(true, h, new byte[512]), "checksum does not match");
    refused(Tarball.rawGz(false, Tarball.header("a", '0', 3, "")), "truncated");
    refused(Tarball.rawGz(false, Tarball.header("a", '0', 0, "")), "without its end-of-archive marker");
    refused("not gzip at all".getBytes(StandardCharsets.UTF_8), "not valid gzip");
    byte[] good = new Tarball().file("a", "abc").gz();
    refused(java.util.Arrays.copyOf(good, good.length / 2), "a");
    byte[] pax = "30 path=x\n".getBytes(StandardCharsets.US_ASCII); // says 30 bytes, has 10
    refused(Tarball.rawGz(true, Tarball.header("PaxHeaders/1", 'x', pax.length, ""), pad(pax),
        Tarball.header("a", '0', 0, "")), "malformed pax record");
    byte[] nul = "12 path=a\0b\n".getBytes(StandardCharsets.US_ASCII);
    refused(Tarball.rawGz(true, Tarball.header("PaxHeaders/1", 'x', nul.length, ""), pad(nul),
        Tarball.header("a", '0', 0, "")), "NUL");
  }

  @Test
  void aTargetThatIsNotEmptyIsNotUsed() throws IOException {
    Files.writeString(target.resolve("there"), "before");
    assertThatThrownBy(() -> unpack(new Tarball().file("a", "x").gz())).isInstanceOf(IOException.class)
        .hasMessageContaining("not empty");
    assertThat(target.resolve("there")).hasContent("before");
  }

  @Test
  void namesInMessagesCannotForgeLogLines() throws IOException {
    ArtifactRefusedException e = refused(new Tarball().file("x\nINFO all good\u001b[0m/../y", SECRET).gz(), "'..'");
    assertThat(e.getMessage()).doesNotContain("\n").doesNotContain("\u001b").contains("\\u000a");
  }

  private static byte[] pad(byte[] b) {
    return java.util.Arrays.copyOf(b, (b.length + 511) / 512 * 512);
  }

  private static String mode(Path p) throws IOException {
    return PosixFilePermissions.toString(Files.getPosixFilePermissions(p, LinkOption.NOFOLLOW_LINKS));
  }
}
