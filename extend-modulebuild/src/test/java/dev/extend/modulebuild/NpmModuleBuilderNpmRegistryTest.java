package dev.extend.modulebuild;

import static org.assertj.core.api.Assertions.assertThat;

import dev.extend.ModuleRef;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Builds real packages from npm's public registry and requires the built closures. */
class NpmModuleBuilderNpmRegistryTest {
  @TempDir Path tmp;

  @BeforeAll
  static void registry() throws Exception {
    PublicNpmRegistry.require();
  }

  private Path build(ModuleRef m) throws Exception {
    Path work = Files.createDirectories(tmp.resolve("work-" + m.storeKey()));
    Path out = tmp.resolve(m.storeKey() + ".tgz");
    List<String> log = Collections.synchronizedList(new ArrayList<>());
    long t0 = System.nanoTime();
    NpmModuleBuilder.builder().jobRunner(dev.extend.spi.JobRunner.localProcesses()).timeout(Duration.ofMinutes(3)).build().build(m, dev.extend.testing.TestRuntimes.runtime(), dev.extend.testing.TestRuntimes.distribution(), work, out, log::add);
    // A measurement, not an assertion.
    System.out.printf("[measure] build %s: %d ms, tarball %d bytes%n", m, (System.nanoTime() - t0) / 1_000_000,
        Files.size(out));
    return out;
  }

  @Test
  void asyncPullsLodashAndRequires() throws Exception {
    ModuleRef async = new ModuleRef("async", "2.6.0");
    Path tgz = build(async);
    HostLayout host = new HostLayout(tmp.resolve("store"));
    Path dir = host.unpack(async, tgz);
    assertThat(dir.resolve("node_modules/lodash/package.json")).exists();
    Path hook = host.webhook(tmp.resolve("hook"),
        "const async = require('async');"
            + "async.waterfall([cb => cb(null, 20), (n, cb) => cb(null, n + 22)], (e, r) => console.log(e || r));",
        async);
    HostLayout.Result r = host.run(hook, null);
    assertThat(r.output()).isEqualTo("42");
  }

  @Test
  void uuidBuildsWithItsBinLinkAndRequires() throws Exception {
    ModuleRef uuid = new ModuleRef("uuid", "9.0.1");
    Path tgz = build(uuid);
    HostLayout host = new HostLayout(tmp.resolve("store"));
    Path dir = host.unpack(uuid, tgz);
    assertThat(Files.isSymbolicLink(dir.resolve("node_modules/.bin/uuid"))).isTrue();
    assertThat(dir.resolve("node_modules/.bin/uuid").toRealPath()).startsWith(dir.resolve("node_modules/uuid").toRealPath());
    Path hook = host.webhook(tmp.resolve("hook"), "console.log(require('uuid').validate(require('uuid').v4()));", uuid);
    assertThat(host.run(hook, null).output()).isEqualTo("true");
  }
}
