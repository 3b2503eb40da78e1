package dev.extend.modulebuild;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.extend.testing.TestRuntimes;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Modules build and webhooks run on a host without Node.js: a child JVM in its own mount
 * namespace, where every {@code node}, {@code nodejs}, {@code npm}, {@code npx} the host has is
 * covered by {@code /dev/null} and the host's global module trees by empty directories, with a
 * PATH of system directories only, builds a module with dependencies and runs a webhook using it.
 */
class HostNodeFreeModulePathTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  /** Masks the host's Node.js in this mount namespace only, then starts the JVM given as arguments. */
  private static final String MASK = String.join("\n",
      "set -e",
      "for f in /usr/bin/node /usr/bin/nodejs /usr/bin/npm /usr/bin/npx /usr/bin/corepack /usr/local/bin/node "
          + "/usr/local/bin/npm /usr/local/bin/npx /etc/alternatives/nodejs; do",
      "  if [ -e \"$f\" ]; then mount --bind /dev/null \"$(readlink -f \"$f\")\"; fi",
      "done",
      "for d in /usr/lib/node_modules /usr/local/lib/node_modules /usr/share/nodejs /usr/lib/nodejs /usr/include/node; do",
      "  if [ -d \"$d\" ]; then mount -t tmpfs -o ro,size=1m none \"$d\"; fi",
      "done",
      "exec \"$@\"");

  @TempDir Path dir;

  @Test
  void aModuleBuildsAndAWebhookRunsWithTheHostsNodeMasked() throws Exception {
    boolean root = "root".equals(System.getProperty("user.name"));
    if (!root && "true".equals(System.getenv("CI"))) {
      throw new AssertionError("masking the host's Node needs a mount namespace: run as root (CI=true)");
    }
    Assumptions.assumeTrue(root, "needs root for a mount namespace");
    // fetched (and verified) before the host's Node is masked, as an operator's cache would be
    Path runtime = TestRuntimes.distribution();
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    ProcessBuilder pb = new ProcessBuilder(List.of("unshare", "--mount", "--propagation", "private", "sh", "-c", MASK,
        "mask", java, "-cp", System.getProperty("java.class.path"),
        "-Dextend.runtimesDir=" + TestRuntimes.dir(), "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
        HostNodeFreeMain.class.getName(), dir.resolve("data").toString()));
    pb.environment().put("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
    pb.environment().remove("NODE_PATH");
    pb.redirectErrorStream(true);
    Process p = pb.start();
    byte[] out = p.getInputStream().readAllBytes();
    assertThat(p.waitFor(5, TimeUnit.MINUTES)).isTrue();
    String output = new String(out, StandardCharsets.UTF_8);
    Files.writeString(dir.resolve("child.log"), output);
    assertThat(p.exitValue()).as(output).isZero();

    List<String> lines = output.lines().toList();
    assertThat(lines).as(output).contains("HOST-NODE absent");
    assertThat(lines).as(output).contains("MODULE READY");
    String result = lines.stream().filter(l -> l.startsWith("RESULT ")).findFirst().orElseThrow(() -> new AssertionError(output));
    assertThat(result).startsWith("RESULT 200 ");
    JsonNode answer = JSON.readTree(result.substring("RESULT 200 ".length()));
    assertThat(answer.get("top").asText()).isEqualTo("top>mid>leaf");
    assertThat(answer.get("version").asText()).isEqualTo("v" + TestRuntimes.runtime().nodeVersion());
    assertThat(Path.of(answer.get("execPath").asText()).toRealPath()).isEqualTo(runtime.resolve("bin/node").toRealPath());
  }
}
