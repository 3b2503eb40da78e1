package dev.extend.modulebuild;

import dev.extend.InvocationRequest;
import dev.extend.InvocationResponse;
import dev.extend.ModuleState;
import dev.extend.ModuleStatus;
import dev.extend.ServerlessPlatform;
import dev.extend.WebhookRef;
import dev.extend.WebhookSpec;
import dev.extend.spi.SandboxRuntime;
import dev.extend.testing.LocalNpmRegistry;
import dev.extend.testing.NpmFixtures;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;

/**
 * The whole module path — a build with the runtime's npm, a sandbox with the runtime's node — in
 * a process that has no host Node: {@link HostNodeFreeModulePathTest} starts it in a mount
 * namespace where the host's {@code node}, {@code npm} and their libraries are masked. Prints
 * {@code HOST-NODE <what happened>} and {@code RESULT <answer>} lines for the test to check.
 */
public final class HostNodeFreeMain {
  private HostNodeFreeMain() {}

  public static void main(String[] args) throws Exception {
    Path data = Path.of(args[0]);
    try {
      Process p = new ProcessBuilder("node", "--version").redirectErrorStream(true).start();
      System.out.println("HOST-NODE ran: exit " + p.waitFor() + " " + new String(p.getInputStream().readAllBytes()).strip());
    } catch (IOException e) {
      System.out.println("HOST-NODE absent");
    }
    try (LocalNpmRegistry registry = LocalNpmRegistry.withFixtures();
        ServerlessPlatform platform = ServerlessPlatform.builder()
            .dataDir(data)
            .nodeId("host-node-free")
            .sandboxRuntime(SandboxRuntime.localProcesses())
            .moduleBuilder(NpmModuleBuilder.builder().registry(registry.url()).timeout(Duration.ofMinutes(2)).build())
            .buildWorkers(1)
            .poolSize(1)
            .sandboxWaitTimeout(Duration.ofSeconds(30))
            .build()) {
      WebhookRef ref = WebhookRef.of("acme", "no-host-node");
      platform.put(ref, WebhookSpec.builder("const top = require('ext-top');"
              + "module.exports = async () => ({top: top(), version: process.version, execPath: process.execPath});")
          .dependency(NpmFixtures.TRANSITIVE.name(), NpmFixtures.TRANSITIVE.version())
          .build());
      ModuleStatus s = PlatformModules.awaitSettled(platform, NpmFixtures.TRANSITIVE, Duration.ofMinutes(2));
      System.out.println("MODULE " + s.state() + (s.state() == ModuleState.READY ? "" : "\n" + s.log()));
      try (InvocationResponse r = platform.invoke(ref, InvocationRequest.get())) {
        System.out.println("RESULT " + r.status() + " " + r.bodyText());
      }
    }
  }
}
