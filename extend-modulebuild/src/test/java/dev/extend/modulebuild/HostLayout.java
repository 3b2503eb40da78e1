package dev.extend.modulebuild;

import static org.assertj.core.api.Assertions.assertThat;

import dev.extend.ModuleRef;
import dev.extend.internal.modules.TarGz;
import dev.extend.testing.TestRuntimes;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The host side of module provisioning, as tests need it: a module store made by unpacking
 * built tarballs (with the engine's own tar reader) into {@code <store>/<storeKey>/}, and
 * webhook-like directories whose {@code node_modules} holds only symlinks into the store, run
 * with {@code node} so that resolution goes through real paths as in a sandbox.
 */
final class HostLayout {
  /** The default runtime's node (the platform's own distribution, never the host's). */
  static final Path NODE = TestRuntimes.distribution().resolve("bin/node");

  private final Path store;

  HostLayout(Path store) throws IOException {
    this.store = Files.createDirectories(store);
  }

  Path store() {
    return store;
  }

  /** Unpacks a built module once. */
  Path unpack(ModuleRef module, Path tarball) throws IOException {
    Path dir = Files.createDirectories(store.resolve(module.storeKey()));
    try (InputStream in = Files.newInputStream(tarball)) {
      TarGz.unpack(in, dir);
    }
    return dir;
  }

  /** A webhook directory with {@code index.js} and a node_modules of symlinks to {@code deps}. */
  Path webhook(Path dir, String code, ModuleRef... deps) throws IOException {
    Path nm = Files.createDirectories(dir.resolve("node_modules"));
    for (ModuleRef m : deps) {
      Path link = nm.resolve(m.name());
      Files.createDirectories(link.getParent());
      Files.createSymbolicLink(link, store.resolve(m.storeKey()).resolve("node_modules").resolve(m.name()));
    }
    Files.writeString(dir.resolve("index.js"), code);
    return dir;
  }

  /** The agent's peer-resolution hook, copied out of extend-core. */
  static Path peerResolveScript(Path dir) throws IOException {
    try (InputStream in = HostLayout.class.getResourceAsStream("/dev/extend/agent/peer-resolve.js")) {
      assertThat(in).as("peer-resolve.js in extend-core").isNotNull();
      Path p = dir.resolve("peer-resolve.js");
      Files.write(p, in.readAllBytes());
      return p;
    }
  }

  /** Runs a webhook's index.js with node; with {@code peerHook}, installs the hook first as the agent does. */
  Result run(Path webhook, Path peerHook) throws IOException, InterruptedException {
    List<String> cmd = new ArrayList<>(List.of(NODE.toString()));
    if (peerHook == null) {
      cmd.add(webhook.resolve("index.js").toString());
    } else {
      cmd.add("-e");
      cmd.add("require(" + js(peerHook.toString()) + ").install(require('module'), {modulesDir: "
          + js(store.toString()) + "}); require(" + js(webhook.resolve("index.js").toString()) + ");");
    }
    Process p = new ProcessBuilder(cmd).directory(webhook.toFile()).redirectErrorStream(true).start();
    byte[] out = p.getInputStream().readAllBytes();
    assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
    return new Result(p.exitValue(), new String(out, StandardCharsets.UTF_8).strip());
  }

  /**
   * Loads several webhook directories in one node process (as one sandbox hosts a container's
   * webhooks), with the peer hook installed, and prints the JSON array of their exports.
   */
  Result runTogether(Path peerHook, Path... webhooks) throws IOException, InterruptedException {
    StringBuilder js = new StringBuilder("require(" + js(peerHook.toString()) + ").install(require('module'), {modulesDir: "
        + js(store.toString()) + "}); const out = [];");
    for (Path w : webhooks) {
      js.append("out.push(require(").append(js(w.resolve("index.js").toString())).append("));");
    }
    js.append("console.log(JSON.stringify(out));");
    Process p = new ProcessBuilder(NODE.toString(), "-e", js.toString()).redirectErrorStream(true).start();
    byte[] out = p.getInputStream().readAllBytes();
    assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
    return new Result(p.exitValue(), new String(out, StandardCharsets.UTF_8).strip());
  }

  record Result(int status, String output) {}

  private static String js(String s) {
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'";
  }

  /**
   * Makes sure the default runtime's distribution is here (fetched and verified the first time):
   * builds and sandboxes use it, never a host Node.
   */
  static void requireRuntime() {
    assertThat(NODE).isExecutable();
  }
}
