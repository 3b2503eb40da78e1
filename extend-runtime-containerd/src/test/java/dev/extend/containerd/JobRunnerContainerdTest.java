package dev.extend.containerd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.extend.spi.JobRunner;
import dev.extend.testing.ContainerdFixture;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeoutException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Module-build jobs in the sandbox environment, with a real private containerd (and the npm registry for one test). */
class JobRunnerContainerdTest {
  static ContainerdFixture containerd;
  static ContainerdRuntime runtime;
  static JobRunner jobs;
  @TempDir Path tmp;

  @BeforeAll
  static void start() throws Exception {
    containerd = ContainerdFixture.start();
    runtime = ContainerdRuntime.builder().socket(containerd.socket()).namespace("extend-test").nodeId("jobs")
        .dataDir(TestData.dataDir()).build();
    runtime.recover();
    jobs = runtime.jobRunner().orElseThrow();
  }

  @AfterAll
  static void stop() throws Exception {
    if (runtime != null) {
      runtime.close();
    }
    if (containerd != null) {
      containerd.close();
    }
  }

  /** Relative paths of what each job left in its work area, as its collector saw it. */
  final Map<String, List<String>> left = new java.util.concurrent.ConcurrentHashMap<>();

  JobRunner.Job job(String id, List<String> command, List<String> output, Duration timeout) throws Exception {
    Path work = Files.createDirectories(tmp.resolve(id));
    return new JobRunner.Job(id, command, Map.of("npm_config_update_notifier", "false"), work, timeout, output::add,
        Map.of(), null, (status, dir) -> {
          try (var all = Files.walk(dir)) {
            left.put(id, all.map(p -> dir.relativize(p).toString()).toList());
          }
        }, dev.extend.testing.TestRuntimes.runtime(), dev.extend.testing.TestRuntimes.distribution());
  }

  @Test
  void runsAsTheSandboxUserWithTheWorkDirWritable() throws Exception {
    List<String> out = new CopyOnWriteArrayList<>();
    JobRunner.Job job = job("whoami", List.of("/usr/bin/node", "-e", String.join(";",
        "const fs = require('fs')",
        "fs.writeFileSync('/work/made-here', 'x')",
        "console.log('uid=' + process.getuid() + ' cwd=' + process.cwd() + ' home=' + process.env.HOME)",
        "try { fs.writeFileSync('/usr/bin/x', 'x') } catch (e) { console.log('rootfs=' + e.code) }",
        "try { fs.readFileSync('/etc/shadow') } catch (e) { console.log('shadow=' + e.code) }",
        "console.log('env=' + Object.keys(process.env).sort().join(','))",
        "console.error('to stderr')")), out, Duration.ofSeconds(60));
    assertThat(jobs.run(job)).as("output %s", out).isZero();
    assertThat(jobs.workPath(job)).isEqualTo("/work");
    // A uid of the runtime's range, its own while it runs (builds may run side by side).
    assertThat(out).anyMatch(l -> l.matches("uid=(\\d+) cwd=/work home=/work")
        && Long.parseLong(l.substring(4, l.indexOf(' '))) >= SandboxUids.DEFAULT_BASE);
    assertThat(out).contains("rootfs=EROFS", "shadow=ENOENT", "to stderr",
        "env=HOME,PATH,npm_config_update_notifier");
    assertThat(left.get("whoami")).contains("made-here");
    try (var s = Files.list(job.workDir())) {
      assertThat(s.toList()).as("the work area is gone").isEmpty();
    }
  }

  @Test
  void exitStatusIsReturned() throws Exception {
    assertThat(jobs.run(job("fails", List.of("/usr/bin/node", "-e", "process.exit(4)"), new CopyOnWriteArrayList<>(),
        Duration.ofSeconds(60)))).isEqualTo(4);
  }

  @Test
  void aJobOutlivingItsTimeoutIsKilled() throws Exception {
    JobRunner.Job job = job("sleeper", List.of("/usr/bin/node", "-e", "setInterval(() => {}, 1000)"),
        new CopyOnWriteArrayList<>(), Duration.ofSeconds(1));
    assertThatThrownBy(() -> jobs.run(job)).isInstanceOf(TimeoutException.class).hasMessageContaining("sleeper");
    assertThat(TestData.containersOf(containerd.socket(), "jobs")).isEmpty();
  }

  @Test
  void jobsHaveOnlyLoopbackAndCannotReachTheHostsListeners() throws Exception {
    try (java.net.ServerSocket host = new java.net.ServerSocket(0, 50, java.net.InetAddress.getLoopbackAddress())) {
      List<String> out = new CopyOnWriteArrayList<>();
      JobRunner.Job job = job("probe", List.of("/usr/bin/node", "-e", String.join("\n",
          "const net = require('net');",
          "console.log('nics=' + Object.keys(require('os').networkInterfaces()).join(','));",
          "const c = net.connect(" + host.getLocalPort() + ", '127.0.0.1');",
          "c.on('connect', () => { console.log('host=CONNECTED'); process.exit(0); });",
          "c.on('error', (e) => { console.log('host=' + e.code); process.exit(0); });",
          "setTimeout(() => { console.log('host=TIMEOUT'); process.exit(0); }, 5000);")), out, Duration.ofSeconds(60));
      assertThat(jobs.run(job)).isZero();
      assertThat(out).as("output %s", out).contains("nics=lo", "host=ECONNREFUSED");
    }
  }

  @Test
  void jobsConnectToTheSocketsOfTheirServiceDirectoryButCannotChangeIt() throws Exception {
    Path services = Files.createDirectories(tmp.resolve("services"));
    try (var server = java.nio.channels.ServerSocketChannel.open(java.net.StandardProtocolFamily.UNIX)) {
      server.bind(java.net.UnixDomainSocketAddress.of(services.resolve("hello.sock")));
      Thread t = new Thread(() -> {
        try (var ch = server.accept()) {
          ch.write(java.nio.ByteBuffer.wrap("hello from the host\n".getBytes()));
        } catch (Exception ignored) {
          // test over
        }
      });
      t.setDaemon(true);
      t.start();
      List<String> out = new CopyOnWriteArrayList<>();
      Path work = Files.createDirectories(tmp.resolve("svc"));
      JobRunner.Job job = new JobRunner.Job("svc", List.of("/usr/bin/node", "-e", String.join("\n",
          "const fs = require('fs');",
          "try { fs.writeFileSync('/extend/services/x', 'x'); console.log('write=OK'); } catch (e) { console.log('write=' + e.code); }",
          "try { fs.unlinkSync('/extend/services/hello.sock'); console.log('unlink=OK'); } catch (e) { console.log('unlink=' + e.code); }",
          "const c = require('net').connect('" + jobs.servicePath(null) + "/hello.sock');",
          "c.on('data', (d) => { console.log('got=' + d.toString().trim()); process.exit(0); });",
          "c.on('error', (e) => { console.log('connect=' + e.code); process.exit(1); });")),
          Map.of(), work, Duration.ofSeconds(60), out::add, Map.of(), services, null, dev.extend.testing.TestRuntimes.runtime(), dev.extend.testing.TestRuntimes.distribution());
      assertThat(jobs.run(job)).as("output %s", out).isZero();
      assertThat(out).contains("write=EROFS", "unlink=EROFS", "got=hello from the host");
    }
  }

  @Test
  void sandboxesGetNoShellOrNpmWhileBuildJobsDo() throws Exception {
    Path sandboxTree = runtime.rootfs(dev.extend.testing.TestRuntimes.distribution());
    Path buildTree = runtime.jobRootfs(dev.extend.testing.TestRuntimes.distribution());
    assertThat(sandboxTree).isNotEqualTo(buildTree);
    for (String absent : List.of("bin/sh", "usr/bin/env", "usr/bin/npm", "usr/bin/npx", "usr/lib/node_modules")) {
      assertThat(Files.exists(sandboxTree.resolve(absent), java.nio.file.LinkOption.NOFOLLOW_LINKS))
          .as("sandbox tree has no %s", absent).isFalse();
    }
    assertThat(sandboxTree.resolve("usr/bin/node")).isExecutable();
    assertThat(buildTree.resolve("bin/sh")).isExecutable();
    assertThat(buildTree.resolve("usr/lib/node_modules/npm/bin/npm-cli.js")).exists();
    List<String> out = new CopyOnWriteArrayList<>();
    assertThat(jobs.run(job("npm-version", List.of("/bin/sh", "-c", "npm --version"), out, Duration.ofSeconds(60))))
        .as("output %s", out).isZero();
    assertThat(out).anyMatch(l -> l.matches("\\d+\\.\\d+\\.\\d+"));
  }

  @Test
  void buildJobsRunMakeAndKeepTheirIdsWhateverTheyAsk() throws Exception {
    List<String> out = new CopyOnWriteArrayList<>();
    // GNU make calls setresuid/setresgid with the ids it has before each recipe line; python3
    // then asks for root and for another user, which must fail.
    String script = "printf 'all:\\n\\techo made\\n' > /work/mk && make -s -f /work/mk; echo make=$?;"
        + " python3 -c 'import os; os.setresuid(-1, -1, -1); print(\"same=ok\")';"
        + " python3 -c 'import os\ntry:\n os.setresuid(0, 0, 0); print(\"root=GOT\")\nexcept OSError as e: print(\"root=\" + str(e.errno))';"
        + " python3 -c 'import os\ntry:\n os.setresgid(65534, 65534, 65534); print(\"other=GOT\")\nexcept OSError as e: print(\"other=\" + str(e.errno))';"
        + " id -u";
    assertThat(jobs.run(job("ids", List.of("/bin/sh", "-c", script), out, Duration.ofSeconds(60)))).as("%s", out).isZero();
    assertThat(out).contains("made", "make=0", "same=ok", "root=1", "other=1");
    assertThat(out).noneMatch(l -> l.contains("GOT"));
    assertThat(Integer.parseInt(out.get(out.size() - 1).trim())).isGreaterThanOrEqualTo(SandboxUids.MIN_UID);
  }
}
