package dev.extend.modulebuild;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.extend.ModuleRef;
import dev.extend.spi.ModuleBuilder.ModuleBuildException;
import dev.extend.testing.LocalNpmRegistry;
import dev.extend.testing.NpmFixtures;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Builds the fixture packages with the real npm against a local registry (offline), unpacks
 * the tarballs into a module store and requires them from webhook-like directories through
 * symlinks, as sandboxes do.
 */
class NpmModuleBuilderLocalNpmTest {
  private static LocalNpmRegistry registry;

  @TempDir Path tmp;

  @BeforeAll
  static void startRegistry() throws IOException {
    HostLayout.requireRuntime();
    registry = LocalNpmRegistry.withFixtures();
  }

  @AfterAll
  static void stopRegistry() {
    if (registry != null) {
      registry.close();
    }
  }

  private static NpmModuleBuilder.Builder builder() {
    return NpmModuleBuilder.builder().jobRunner(dev.extend.spi.JobRunner.localProcesses()).registry(registry.url()).timeout(Duration.ofMinutes(2));
  }

  /** One build's result. */
  record Built(Path tarball, Path workDir, List<String> log) {
    String logText() {
      return String.join("\n", log);
    }
  }

  private Built build(NpmModuleBuilder b, ModuleRef m) throws Exception {
    Path work = Files.createDirectories(tmp.resolve("work-" + m.storeKey()));
    Path out = tmp.resolve(m.storeKey() + ".tgz");
    List<String> log = Collections.synchronizedList(new ArrayList<>());
    try {
      b.build(m, dev.extend.testing.TestRuntimes.runtime(), dev.extend.testing.TestRuntimes.distribution(), work, out, log::add);
    } catch (ModuleBuildException e) {
      throw new BuildFailed(e, log);
    }
    return new Built(out, work, log);
  }

  /** A failed build with its log, for assertions. */
  static final class BuildFailed extends Exception {
    private static final long serialVersionUID = 1L;
    final transient List<String> log;

    BuildFailed(ModuleBuildException cause, List<String> log) {
      super(cause.getMessage(), cause);
      this.log = List.copyOf(log);
    }
  }

  private static List<String> tarList(Path tarball) throws Exception {
    Process p = new ProcessBuilder("tar", "tzvf", tarball.toString()).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
    assertThat(p.exitValue()).as(out).isZero();
    return out.lines().toList();
  }

  private static List<String> entryNames(Path tarball) throws Exception {
    Process p = new ProcessBuilder("tar", "tzf", tarball.toString()).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
    return out.lines().toList();
  }

  private static boolean isEmpty(Path dir) throws IOException {
    try (Stream<Path> s = Files.list(dir)) {
      return s.findAny().isEmpty();
    }
  }

  @Test
  void transitiveClosureIsPackedUnderNodeModulesAndRequiresThroughSymlinks() throws Exception {
    Built b = build(builder().build(), NpmFixtures.TRANSITIVE);

    List<String> names = entryNames(b.tarball());
    assertThat(names).allMatch(n -> n.startsWith("node_modules/"), "every entry is below node_modules/");
    assertThat(names).contains("node_modules/ext-top/package.json", "node_modules/ext-mid/index.js",
        "node_modules/ext-leaf/index.js");
    // The bin link stays a relative symlink inside the tree.
    assertThat(tarList(b.tarball())).anyMatch(l -> l.startsWith("l") && l.contains("node_modules/.bin/ext-top -> ../ext-top/cli.js"));
    assertThat(isEmpty(b.workDir())).as("work directory cleaned up").isTrue();

    HostLayout host = new HostLayout(tmp.resolve("store"));
    Path dir = host.unpack(NpmFixtures.TRANSITIVE, b.tarball());
    assertThat(Files.readString(dir.resolve("node_modules/ext-leaf/package.json"))).contains("\"version\": \"1.0.0\"");
    assertThat(Files.isSymbolicLink(dir.resolve("node_modules/.bin/ext-top"))).isTrue();
    Path hook = host.webhook(tmp.resolve("hook"), "console.log(require('ext-top')());", NpmFixtures.TRANSITIVE);
    HostLayout.Result r = host.run(hook, null);
    assertThat(r.output()).isEqualTo("top>mid>leaf");
    assertThat(r.status()).isZero();
  }

  @Test
  void scopedPackageBuildsAndRequires() throws Exception {
    Built b = build(builder().build(), NpmFixtures.SCOPED);
    assertThat(entryNames(b.tarball())).contains("node_modules/@extend-test/greeter/lib/greeter.js",
        "node_modules/ext-leaf/index.js");

    HostLayout host = new HostLayout(tmp.resolve("store"));
    host.unpack(NpmFixtures.SCOPED, b.tarball());
    Path hook = host.webhook(tmp.resolve("hook"), "console.log(require('@extend-test/greeter')('ada'));",
        NpmFixtures.SCOPED);
    assertThat(host.run(hook, null).output()).isEqualTo("hello ada from leaf 1.1");
  }

  @Test
  void peerDependencyIsNotBundledAndResolvesToTheWebhooksOwnCopy() throws Exception {
    NpmModuleBuilder npm = builder().build();
    Built plugin = build(npm, NpmFixtures.PEER);
    Built host1 = build(npm, NpmFixtures.HOST_1);
    assertThat(entryNames(plugin.tarball())).contains("node_modules/ext-plugin/index.js", "node_modules/ext-leaf/index.js")
        .noneMatch(n -> n.startsWith("node_modules/ext-host"));
    assertThat(plugin.logText()).contains("peer dependencies, not bundled").contains("ext-host@>=1.0.0");

    HostLayout host = new HostLayout(tmp.resolve("store"));
    host.unpack(NpmFixtures.PEER, plugin.tarball());
    host.unpack(NpmFixtures.HOST_1, host1.tarball());
    Path hookScript = HostLayout.peerResolveScript(tmp);
    String code = "const host = require('ext-host'); const plugin = require('ext-plugin');"
        + "console.log(JSON.stringify({same: plugin.host === host, version: plugin.hostVersion, plugins: host.plugins()}));";
    Path hook = host.webhook(tmp.resolve("hook"), code, NpmFixtures.PEER, NpmFixtures.HOST_1);

    HostLayout.Result withHook = host.run(hook, hookScript);
    assertThat(withHook.output()).isEqualTo("{\"same\":true,\"version\":\"1.0.0\",\"plugins\":[\"ext-plugin\"]}");

    // Without the hook the plugin cannot see the webhook's copy: that is what the hook is for.
    HostLayout.Result without = host.run(hook, null);
    assertThat(without.status()).isNotZero();
    assertThat(without.output()).contains("Cannot find module 'ext-host'");

    // A webhook that forgets the peer gets an error naming it.
    Path lonely = host.webhook(tmp.resolve("lonely"), "require('ext-plugin');", NpmFixtures.PEER);
    HostLayout.Result missing = host.run(lonely, hookScript);
    assertThat(missing.status()).isNotZero();
    assertThat(missing.output()).contains("'ext-host' is a peer dependency of ext-plugin");
  }

  @Test
  void twoWebhooksInOneSandboxEachGetTheirOwnPeer() throws Exception {
    NpmModuleBuilder npm = builder().build();
    HostLayout host = new HostLayout(tmp.resolve("store"));
    for (var m : List.of(NpmFixtures.PEER, NpmFixtures.HOST_1, NpmFixtures.HOST_2)) {
      host.unpack(m, build(npm, m).tarball());
    }
    String code = "const host = require('ext-host'); const plugin = require('ext-plugin');"
        + "module.exports = {same: plugin.host === host, version: plugin.hostVersion, plugins: host.plugins()};";
    Path one = host.webhook(tmp.resolve("code/one/v1"), code, NpmFixtures.PEER, NpmFixtures.HOST_1);
    Path two = host.webhook(tmp.resolve("code/two/v1"), code, NpmFixtures.PEER, NpmFixtures.HOST_2);
    Path oneAgain = host.webhook(tmp.resolve("code/one/v2"), code, NpmFixtures.PEER, NpmFixtures.HOST_1);

    HostLayout.Result r = host.runTogether(HostLayout.peerResolveScript(tmp), one, two, oneAgain);
    assertThat(r.output()).isEqualTo("["
        + "{\"same\":true,\"version\":\"1.0.0\",\"plugins\":[\"ext-plugin\"]},"
        + "{\"same\":true,\"version\":\"2.0.0\",\"plugins\":[\"ext-plugin\"]},"
        // The binding to ext-host 1.0.0 was loaded before: its instance comes back, not a third one.
        + "{\"same\":true,\"version\":\"1.0.0\",\"plugins\":[\"ext-plugin\"]}]");
  }

  @Test
  void failingInstallScriptFailsTheBuildWithNpmsOutputInTheLog() throws Exception {
    assertThatThrownBy(() -> build(builder().build(), NpmFixtures.FAILING_INSTALL))
        .isInstanceOfSatisfying(BuildFailed.class, e -> {
          assertThat(e.getMessage()).contains("npm install ext-broken@1.0.0 failed");
          assertThat(String.join("\n", e.log)).contains("npm install failed with exit status");
          assertThat(String.join("\n", e.log)).contains("cannot find the native toolchain");
        });
    assertThat(tmp.resolve(NpmFixtures.FAILING_INSTALL.storeKey() + ".tgz")).doesNotExist();
    assertThat(isEmpty(tmp.resolve("work-" + NpmFixtures.FAILING_INSTALL.storeKey()))).isTrue();
  }

  @Test
  void oversizeModuleFailsAndLeavesNoTarball() throws Exception {
    NpmModuleBuilder small = builder().maxTarballBytes(2L << 20).build();
    assertThatThrownBy(() -> build(small, NpmFixtures.OVERSIZE))
        .isInstanceOfSatisfying(BuildFailed.class, e -> {
          assertThat(e.getMessage()).contains("exceeds the maximum size of 2097152 bytes");
          assertThat(String.join("\n", e.log)).contains("ext-bloat: wrote blob.bin");
        });
    assertThat(tmp.resolve(NpmFixtures.OVERSIZE.storeKey() + ".tgz")).doesNotExist();
  }

  @Test
  void buildThatOutlivesItsTimeoutIsKilled() throws Exception {
    NpmModuleBuilder quick = builder().timeout(Duration.ofSeconds(8)).build();
    assertThatThrownBy(() -> build(quick, NpmFixtures.NEVER_ENDS))
        .isInstanceOfSatisfying(BuildFailed.class, e -> {
          assertThat(e.getMessage()).contains("timed out after 8 s");
          assertThat(String.join("\n", e.log)).contains("ext-slow: waiting forever");
        });
    String work = tmp.resolve("work-" + NpmFixtures.NEVER_ENDS.storeKey()).toString();
    // No process of that build survives it.
    assertThat(ProcessHandle.allProcesses()
        .filter(ph -> ph.info().commandLine().orElse("").contains(work)
            || ph.info().commandLine().orElse("").contains("ext-slow"))
        .filter(ProcessHandle::isAlive)
        .toList()).isEmpty();
  }

  @Test
  void longAndNonAsciiPathsSurvivePacking() throws Exception {
    Built b = build(builder().build(), NpmFixtures.LONG_PATHS);
    assertThat(entryNames(b.tarball())).anyMatch(n -> n.length() > 200 && n.endsWith("ustar-cannot-hold-in-its-name-field.js"))
        .contains("node_modules/ext-deep/lib/ünïcödé.js");
    HostLayout host = new HostLayout(tmp.resolve("store"));
    host.unpack(NpmFixtures.LONG_PATHS, b.tarball());
    Path hook = host.webhook(tmp.resolve("hook"), "console.log(require('ext-deep'));", NpmFixtures.LONG_PATHS);
    assertThat(host.run(hook, null).output()).isEqualTo("deep accents");
  }

  @Test
  void npmrcConfiguresTheBuild() throws Exception {
    // The registry named only in the npmrc: builds read it (and nothing of the host's npm config).
    NpmModuleBuilder npm = NpmModuleBuilder.builder().jobRunner(dev.extend.spi.JobRunner.localProcesses()).npmrc("registry=" + registry.url() + "\n")
        .timeout(Duration.ofMinutes(2)).build();
    Built b = build(npm, NpmFixtures.LEAF);
    assertThat(entryNames(b.tarball())).contains("node_modules/ext-leaf/index.js");
  }

  @Test
  void unknownPackageFailsWithNpmsError() throws Exception {
    assertThatThrownBy(() -> build(builder().build(), new ModuleRef("ext-not-published", "1.0.0")))
        .isInstanceOfSatisfying(BuildFailed.class, e -> assertThat(String.join("\n", e.log)).contains("E404"));
  }

  @Test
  void sameModulePacksToTheSameBytes() throws Exception {
    NpmModuleBuilder npm = builder().build();
    Path first = build(npm, NpmFixtures.TRANSITIVE).tarball();
    Path kept = Files.move(first, tmp.resolve("first.tgz"));
    NpmModuleBuilder.deleteTree(tmp.resolve("work-" + NpmFixtures.TRANSITIVE.storeKey()));
    Path second = build(npm, NpmFixtures.TRANSITIVE).tarball();
    assertThat(sha256(second)).isEqualTo(sha256(kept));
  }

  private static String sha256(Path p) throws Exception {
    return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(p)));
  }

  @Test
  void linkChainsLeavingTheTreeAreNotPacked() throws Exception {
    Built b = build(builder().build(), NpmFixtures.EVIL_CHAIN);
    Tarball t = Tarball.read(b.tarball());
    assertThat(t.links()).containsExactlyInAnyOrder("node_modules/ext-evil-chain/ok -> index.js",
        "node_modules/ext-evil-chain/lib-ok -> lib");
    assertThat(t.contains(Files.readString(Path.of("/etc/passwd")).lines().findFirst().orElseThrow())).isFalse();
    assertThat(isEmpty(b.workDir())).isTrue();
  }

  @Test
  void manifestReplacedByAFifoFailsTheBuildAtOnce() throws Exception {
    org.junit.jupiter.api.Assumptions.assumeTrue(System.getProperty("os.arch").matches("amd64|x86_64"),
        "the fixture's program is x86-64");
    long t0 = System.nanoTime();
    assertThatThrownBy(() -> build(builder().timeout(Duration.ofSeconds(60)).build(), NpmFixtures.EVIL_FIFO))
        .isInstanceOfSatisfying(BuildFailed.class, e -> {
          assertThat(String.join("\n", e.log)).contains("ext-evil-fifo: package.json is a FIFO: true");
          assertThat(e.getMessage()).contains("produced no usable node_modules/ext-evil-fifo/package.json");
        });
    assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(60));
  }
}
