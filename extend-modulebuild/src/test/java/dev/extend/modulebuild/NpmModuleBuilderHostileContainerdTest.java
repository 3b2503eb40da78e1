package dev.extend.modulebuild;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.extend.ModuleRef;
import dev.extend.containerd.ContainerdRuntime;
import dev.extend.spi.ModuleBuilder.ModuleBuildException;
import dev.extend.testing.ContainerdFixture;
import dev.extend.testing.LocalNpmRegistry;
import dev.extend.testing.NpmFixtures;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Hostile packages built for real in containerd build jobs (private daemon, local registry):
 * each fixture's install script performs an attack on the build host, and the test fails if
 * it works.
 */
class NpmModuleBuilderHostileContainerdTest {
  static final long WORK_MB = 96;
  static final long WORK_INODES = 8000;
  private static ContainerdFixture containerd;
  private static ContainerdRuntime runtime;
  private static LocalNpmRegistry registry;

  @TempDir Path tmp;

  @BeforeAll
  static void start() throws Exception {
    HostLayout.requireNodeAndNpm();
    containerd = ContainerdFixture.start();
    runtime = ContainerdRuntime.builder().socket(containerd.socket()).namespace("extend-modulebuild-test")
        .nodeId("hostile").dataDir(Files.createDirectories(Path.of("target/extend-data").toAbsolutePath()))
        .jobWorkArea(WORK_MB, WORK_INODES).build();
    runtime.recover();
    registry = LocalNpmRegistry.withFixtures(LocalNpmRegistry.hostAddress());
  }

  @AfterAll
  static void stop() throws Exception {
    if (registry != null) {
      registry.close();
    }
    if (runtime != null) {
      runtime.close();
    }
    if (containerd != null) {
      containerd.close();
    }
  }

  private static NpmModuleBuilder.Builder builder() {
    return NpmModuleBuilder.builder().jobRunner(runtime.jobRunner().orElseThrow()).registry(registry.url())
        .timeout(Duration.ofMinutes(2));
  }

  /** A build's outcome: the failure (or null), the log and the tarball (or null). */
  record Outcome(ModuleBuildException failure, List<String> log, Path tarball, long millis) {
    String logText() {
      return String.join("\n", log);
    }
  }

  private Outcome build(NpmModuleBuilder b, ModuleRef m, Path work) throws Exception {
    Path out = tmp.resolve(m.storeKey() + ".tgz");
    List<String> log = new CopyOnWriteArrayList<>();
    long t0 = System.nanoTime();
    try {
      b.build(m, Files.createDirectories(work), out, log::add);
      return new Outcome(null, log, out, (System.nanoTime() - t0) / 1_000_000);
    } catch (ModuleBuildException e) {
      assertThat(out).doesNotExist();
      return new Outcome(e, log, null, (System.nanoTime() - t0) / 1_000_000);
    }
  }

  @Test
  void manifestLinkedToAHostSecretNeverLeaksIt() throws Exception {
    // The install script links package.json to ../../../../admin-token: from the host's view of
    // the work directory that is this file.
    String secret = "admin-" + UUID.randomUUID();
    Files.writeString(tmp.resolve("admin-token"), secret);
    Outcome o = build(builder().build(), NpmFixtures.EVIL_LINK, tmp.resolve("work"));

    assertThat(o.logText()).contains("ext-evil-link: package.json -> ../../../../admin-token").doesNotContain(secret);
    assertThat(o.failure()).as("the build fails cleanly").isNotNull();
    assertThat(o.failure().getMessage()).isEqualTo(
        "npm install ext-evil-link@1.0.0 produced no usable node_modules/ext-evil-link/package.json")
        .doesNotContain(secret);
    assertThat(Files.readString(tmp.resolve("admin-token"))).isEqualTo(secret);
  }

  @Test
  void manifestReplacedByAFifoEndsTheBuildWithinItsTimeout() throws Exception {
    Assumptions.assumeTrue(System.getProperty("os.arch").matches("amd64|x86_64"), "the fixture's program is x86-64");
    Outcome o = build(builder().timeout(Duration.ofSeconds(60)).build(), NpmFixtures.EVIL_FIFO, tmp.resolve("work"));
    // The sandbox's seccomp profile refuses mknod; where it would not, the FIFO is there.
    assertThat(o.logText()).containsAnyOf("ext-evil-fifo: package.json is a FIFO: true",
        "ext-evil-fifo: mknod refused");
    assertThat(o.failure()).isNotNull();
    assertThat(o.failure().getMessage()).contains("produced no usable node_modules/ext-evil-fifo/package.json");
    assertThat(o.millis()).isLessThan(60_000);
  }

  @Test
  void linkChainsLeavingTheTreeAreNotPacked() throws Exception {
    Outcome o = build(builder().build(), NpmFixtures.EVIL_CHAIN, tmp.resolve("work"));
    assertThat(o.failure()).as("log %s", o.log()).isNull();
    Tarball t = Tarball.read(o.tarball());
    assertThat(t.links()).containsExactlyInAnyOrder("node_modules/ext-evil-chain/ok -> index.js",
        "node_modules/ext-evil-chain/lib-ok -> lib");
    assertThat(t.names()).allMatch(n -> n.startsWith("node_modules"));
    // Neither the job's /etc/passwd nor the host's hostname came along as content.
    assertThat(t.contains("root:x:0:0")).isFalse();
    assertThat(t.contains("nobody:x:65534")).isFalse();
    String hostname = Files.readString(Path.of("/etc/hostname")).trim();
    assertThat(t.entries()).noneMatch(e -> e.type() == '0' && new String(e.content()).trim().equals(hostname));
    assertThat(o.logText()).contains("pack: left out symlink node_modules/ext-evil-chain/passwd");

    HostLayout host = new HostLayout(tmp.resolve("store"));
    host.unpack(NpmFixtures.EVIL_CHAIN, o.tarball());
    Path hook = host.webhook(tmp.resolve("hook"), "console.log(require('ext-evil-chain'));", NpmFixtures.EVIL_CHAIN);
    assertThat(host.run(hook, null).output()).isEqualTo("chain inside");
  }

  @Test
  void fillingTheWorkAreaFailsClearlyAndLeavesTheHostDiskAlone() throws Exception {
    Path work = tmp.resolve("work");
    long freeBefore = Files.getFileStore(tmp).getUsableSpace();
    Outcome o = build(builder().build(), NpmFixtures.EVIL_FILL, work);
    long freeAfter = Files.getFileStore(tmp).getUsableSpace();

    assertThat(o.logText()).contains("ext-evil-fill: ENOSPC after").contains("files");
    assertThat(o.failure()).as("log %s", o.log()).isNotNull();
    assertThat(o.failure().getMessage()).isEqualTo("ext-evil-fill@1.0.0: the build's work area is full: "
        + WORK_MB + " MiB / " + WORK_INODES + " inodes");
    // The host's disk did not take the blocks (other tests may write meanwhile: a wide margin).
    assertThat(freeBefore - freeAfter).isLessThan(WORK_MB / 2 << 20);
    assertThat(Files.readString(Path.of("/proc/self/mountinfo"))).doesNotContain(work.toString());
    try (var s = Files.list(work)) {
      assertThat(s.toList()).isEmpty();
    }
  }
}
