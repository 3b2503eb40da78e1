package dev.extend.containerd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import dev.extend.InvocationRequest;
import dev.extend.InvocationResponse;
import dev.extend.ModuleRef;
import dev.extend.ModuleState;
import dev.extend.ModuleStatus;
import dev.extend.ModulesNotReadyException;
import dev.extend.ServerlessPlatform;
import dev.extend.WebhookRef;
import dev.extend.WebhookSpec;
import dev.extend.spi.Artifact;
import dev.extend.spi.ArtifactStore;
import dev.extend.spi.ModuleStore;
import dev.extend.testing.ContainerdFixture;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import java.util.zip.GZIPOutputStream;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.apache.commons.compress.archivers.tar.TarConstants;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Malicious module artifacts in the shared artifact store, through the whole platform on a real
 * private containerd: a module marked ready (through the SPI, as a tampered database would)
 * with an archive that escaped its directory before the unpack rules, and a module whose blob
 * was swapped after it was built. The webhooks that need them fail with a clear error and run
 * nowhere, nothing is written outside {@code <data>/modules}, and a neighbour keeps answering.
 */
class HostileModuleArtifactContainerdTest {
  /** Modules are stored per ABI: these are the default runtime's builds. */
  static final ModuleRef CHAIN = ModuleRef.parse("evil-chain@1.0.0").forAbi(dev.extend.testing.TestRuntimes.runtime().abi());
  static final ModuleRef SWAPPED = ModuleRef.parse("swapped@1.0.0").forAbi(dev.extend.testing.TestRuntimes.runtime().abi());

  @TempDir static Path base;
  static Path data;
  static Path sentinel;
  static ContainerdFixture containerd;
  static ContainerdRuntime runtime;
  static ServerlessPlatform platform;

  /**
   * {@code l1 -> .}, {@code l1/l1/l1/up -> ../../../sentinel}, {@code up/ESCAPED.txt}: unpacked in
   * {@code <data>/modules/.tmp-...}, {@code up} is {@code <base>/sentinel}. The text of each path
   * stays inside, which is all the unpacker checked before.
   */
  static byte[] escapingChain() throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    try (TarArchiveOutputStream tar = new TarArchiveOutputStream(new GZIPOutputStream(out))) {
      symlink(tar, "l1", ".");
      symlink(tar, "l1/l1/l1/up", "../../../sentinel");
      byte[] content = "written by a module artifact".getBytes(StandardCharsets.UTF_8);
      TarArchiveEntry file = new TarArchiveEntry("up/ESCAPED.txt");
      file.setSize(content.length);
      tar.putArchiveEntry(file);
      tar.write(content);
      tar.closeArchiveEntry();
      TarArchiveEntry hard = new TarArchiveEntry("node_modules/hostname", TarConstants.LF_LINK);
      hard.setLinkName("/etc/hostname");
      tar.putArchiveEntry(hard);
      tar.closeArchiveEntry();
    }
    return out.toByteArray();
  }

  private static void symlink(TarArchiveOutputStream tar, String name, String target) throws IOException {
    TarArchiveEntry e = new TarArchiveEntry(name, TarConstants.LF_SYMLINK);
    e.setLinkName(target);
    tar.putArchiveEntry(e);
    tar.closeArchiveEntry();
  }

  /** A well-formed module tarball, as the builder makes them. */
  static byte[] genuine(ModuleRef m) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    try (TarArchiveOutputStream tar = new TarArchiveOutputStream(new GZIPOutputStream(out))) {
      byte[] js = "module.exports = 'genuine';".getBytes(StandardCharsets.UTF_8);
      TarArchiveEntry file = new TarArchiveEntry("node_modules/" + m.name() + "/index.js");
      file.setSize(js.length);
      tar.putArchiveEntry(file);
      tar.write(js);
      tar.closeArchiveEntry();
    }
    return out.toByteArray();
  }

  @BeforeAll
  static void start() throws Exception {
    data = Files.createDirectories(base.resolve("data"));
    sentinel = Files.createDirectories(base.resolve("sentinel"));
    ArtifactStore stored = ArtifactStore.inMemory();
    ModuleStore modules = ModuleStore.inMemory();

    // Ready, and the record vouches for the blob: only the unpack rules stand in the way.
    Artifact chain = stored.put(new ByteArrayInputStream(escapingChain()), 1 << 20);
    modules.createIfAbsent(CHAIN);
    modules.update(CHAIN, ModuleState.READY, "built", chain);

    // Built genuinely, then its blob swapped in the store for the escaping one.
    Artifact built = stored.put(new ByteArrayInputStream(genuine(SWAPPED)), 1 << 20);
    modules.createIfAbsent(SWAPPED);
    modules.update(SWAPPED, ModuleState.READY, "built", built);
    byte[] swappedBytes = escapingChain();
    ArtifactStore artifacts = new ArtifactStore() {
      @Override
      public Artifact put(InputStream content, long maxBytes) throws IOException {
        return stored.put(content, maxBytes);
      }

      @Override
      public Optional<InputStream> open(String digest) throws IOException {
        return digest.equals(built.digest()) ? Optional.of(new ByteArrayInputStream(swappedBytes)) : stored.open(digest);
      }

      @Override
      public boolean exists(String digest) {
        return stored.exists(digest);
      }

      @Override
      public boolean delete(String digest) {
        return stored.delete(digest);
      }
    };

    containerd = ContainerdFixture.start();
    runtime = ContainerdRuntime.builder().socket(containerd.socket()).namespace("extend-test").nodeId("artifacts")
        .dataDir(TestData.dataDir()).build();
    platform = ServerlessPlatform.builder()
        .dataDir(data)
        .nodeId("artifacts")
        .sandboxRuntime(runtime)
        .artifactStore(artifacts)
        .moduleStore(modules)
        .sandboxLimits(128, 1000, 128, 16)
        .poolSize(2)
        .maxSandboxes(6)
        .sandboxWaitTimeout(Duration.ofSeconds(30))
        .build();
    platform.pool().awaitWarm(Duration.ofSeconds(30));
  }

  @AfterAll
  static void stop() throws Exception {
    if (platform != null) {
      platform.close();
    }
    if (runtime != null) {
      runtime.close();
    }
    if (containerd != null) {
      containerd.close();
    }
  }

  static InvocationResponse invoke(WebhookRef ref) {
    try {
      return platform.invokeAsync(ref, InvocationRequest.get()).get(60, TimeUnit.SECONDS);
    } catch (java.util.concurrent.ExecutionException e) {
      throw e.getCause() instanceof RuntimeException re ? re : new IllegalStateException(e.getCause());
    } catch (Exception e) {
      throw new AssertionError("invocation of " + ref + " did not end within 60 s", e);
    }
  }

  static String call(WebhookRef ref) {
    try (InvocationResponse r = invoke(ref)) {
      assertThat(r.status()).isEqualTo(200);
      return r.bodyText();
    }
  }

  /** Every path under the base directory outside {@code <data>/modules}, links not followed. */
  static List<String> escaped() throws IOException {
    List<String> found = new ArrayList<>();
    try (Stream<Path> s = Files.walk(base)) {
      s.filter(p -> p.getFileName().toString().startsWith("ESCAPED") || p.getFileName().toString().equals("hostname"))
          .forEach(p -> found.add(base.relativize(p).toString()));
    }
    return found;
  }

  @Test
  void aWebhookWhoseModuleArtifactIsHostileFailsClearlyAndNothingLeavesTheModuleStore() throws Exception {
    WebhookRef neighbour = WebhookRef.of("neighbour", "answers");
    platform.put(neighbour, WebhookSpec.builder("module.exports = async () => 'still here'").build());
    assertThat(call(neighbour)).isEqualTo("still here");

    for (ModuleRef m : List.of(CHAIN, SWAPPED)) {
      WebhookRef victim = WebhookRef.of("victim-" + m.name(), "uses-module");
      platform.put(victim, WebhookSpec.builder("module.exports = async () => require('" + m.name() + "')")
          .dependency(m.name(), m.version()).build());

      for (int attempt = 0; attempt < 2; attempt++) { // the second is answered from the refusal just made
        Throwable t = catchThrowable(() -> invoke(victim).close());
        assertThat(t).as(m + " attempt " + attempt).isInstanceOf(ModulesNotReadyException.class);
        ModulesNotReadyException e = (ModulesNotReadyException) t;
        assertThat(e.status()).isEqualTo(409);
        assertThat(e.getMessage()).contains(m.toString()).contains("failed");
        ModuleStatus status = e.modules().get(0);
        assertThat(status.module()).isEqualTo(m);
        assertThat(status.state()).isEqualTo(ModuleState.FAILED);
        assertThat(status.log()).contains("refused on this node")
            .contains(m == CHAIN ? "'l1/l1/l1/up'" : "does not match its record")
            .doesNotContain("written by a module artifact");
      }
      assertThat(call(neighbour)).as("the neighbour after " + m).isEqualTo("still here");
    }

    try (Stream<Path> s = Files.list(sentinel)) {
      assertThat(s.toList()).as("the sentinel beside the data directory").isEmpty();
    }
    assertThat(escaped()).as("no escaped file and no copy of /etc/hostname anywhere").isEmpty();
    try (Stream<Path> s = Files.list(data.resolve("modules"))) {
      assertThat(s.map(p -> p.getFileName().toString()).toList())
          .as("neither module unpacked, no staging directory or blob left").isEmpty();
    }
    // the store itself is untouched: the records still say ready, the refusal is this node's
    assertThat(platform.module(CHAIN).map(ModuleStatus::state)).contains(ModuleState.READY);
    // no sandbox was given to a container whose module could not be had: only the neighbour has one
    assertThat(platform.pool().stats().assigned()).isEqualTo(1);
  }
}
