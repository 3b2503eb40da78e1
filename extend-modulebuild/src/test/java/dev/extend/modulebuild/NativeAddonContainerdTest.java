package dev.extend.modulebuild;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.extend.InvocationRequest;
import dev.extend.InvocationResponse;
import dev.extend.ModuleRef;
import dev.extend.ModuleState;
import dev.extend.ModuleStatus;
import dev.extend.NodeRuntime;
import dev.extend.ServerlessPlatform;
import dev.extend.WebhookRef;
import dev.extend.WebhookSpec;
import dev.extend.containerd.ContainerdRuntime;
import dev.extend.testing.ContainerdFixture;
import dev.extend.testing.LocalNpmRegistry;
import dev.extend.testing.NpmFixtures;
import dev.extend.testing.TestRuntimes;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A native addon (a C source node-gyp compiles at install) built in containerd build sandboxes
 * with each runtime's headers and toolchain, then loaded in containerd sandboxes: one artifact
 * per ABI, each running only where its ABI is.
 */
class NativeAddonContainerdTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static ContainerdFixture containerd;
  private static ContainerdRuntime runtime;
  private static LocalNpmRegistry registry;

  @TempDir static Path data;
  @TempDir Path tmp;

  @BeforeAll
  static void start() throws Exception {
    containerd = ContainerdFixture.start();
    runtime = ContainerdRuntime.builder().socket(containerd.socket()).namespace("extend-addon-test")
        .nodeId("addon").dataDir(Files.createDirectories(Path.of("target/extend-data").toAbsolutePath()))
        .egress(false).build();
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

  @Test
  void theSameAddonBuiltForTwoAbisGivesTwoArtifacts() throws Exception {
    NpmModuleBuilder builder = NpmModuleBuilder.builder().jobRunner(runtime.jobRunner().orElseThrow())
        .registry(registry.url()).timeout(Duration.ofMinutes(3)).build();
    byte[][] binaries = new byte[2][];
    String[] names = {"node20", "node22"};
    for (int i = 0; i < 2; i++) {
      NodeRuntime rt = TestRuntimes.runtime(names[i]);
      Path out = tmp.resolve(names[i] + ".tgz");
      List<String> log = new CopyOnWriteArrayList<>();
      try {
        builder.build(NpmFixtures.ADDON.forAbi(rt.abi()), rt, TestRuntimes.distribution(rt),
            Files.createDirectories(tmp.resolve("work-" + names[i])), out, log::add);
      } catch (Exception e) {
        throw new AssertionError("build for " + rt.name() + " failed: " + String.join("\n", log), e);
      }
      assertThat(log).anyMatch(l -> l.contains("runtime " + rt.name()));
      Tarball t = Tarball.read(out);
      binaries[i] = t.entries().stream().filter(e -> e.name().equals("node_modules/ext-addon/build/Release/addon.node"))
          .findFirst().orElseThrow(() -> new AssertionError("no compiled addon in " + t.entries().stream()
              .map(Tarball.Entry::name).toList() + "; log: " + log)).content();
    }
    assertThat(binaries[0]).isNotEqualTo(binaries[1]);
  }

  @Test
  void webhooksOfTwoRuntimesLoadTheAddonBuiltForTheirAbi() throws Exception {
    try (ServerlessPlatform platform = ServerlessPlatform.builder().dataDir(data.resolve("platform")).nodeId("addon")
        .sandboxRuntime(runtime)
        .moduleBuilder(NpmModuleBuilder.builder().registry(registry.url()).timeout(Duration.ofMinutes(3)).build())
        .buildWorkers(2).poolSize(0).sandboxWaitTimeout(Duration.ofSeconds(60)).build()) {
      String code = "const a = require('ext-addon'); module.exports = async () => ({hello: a.hello(),"
          + " builtFor: a.builtForAbi, abi: Number(process.versions.modules), node: process.version});";
      for (String rt : List.of("node22", "node24")) {
        platform.put(WebhookRef.of("natives", rt), WebhookSpec.builder(code).runtime(rt)
            .dependency(NpmFixtures.ADDON.name(), NpmFixtures.ADDON.version()).build());
      }
      for (String rt : List.of("node22", "node24")) {
        ModuleRef build = platform.build(NpmFixtures.ADDON, rt);
        ModuleStatus s = PlatformModules.awaitSettled(platform, build, Duration.ofMinutes(4));
        assertThat(s.state()).as(s.log()).isEqualTo(ModuleState.READY);
        try (InvocationResponse r = platform.invoke(WebhookRef.of("natives", rt), InvocationRequest.get())) {
          String body = r.bodyText();
          assertThat(r.status()).as(body).isEqualTo(200);
          JsonNode j = JSON.readTree(body);
          assertThat(j.get("hello").asText()).isEqualTo("native hello");
          assertThat(j.get("builtFor").asInt()).isEqualTo(platform.runtime(rt).abi()).isEqualTo(j.get("abi").asInt());
          assertThat(j.get("node").asText()).isEqualTo("v" + platform.runtime(rt).nodeVersion());
        }
      }
    }
  }
}
