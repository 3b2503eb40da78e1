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
        });
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
    assertThat(out).contains("uid=65534 cwd=/work home=/work", "rootfs=EROFS", "shadow=ENOENT", "to stderr",
        "env=HOME,NODE_EXTRA_CA_CERTS,PATH,npm_config_update_notifier");
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
  void jobsCannotReachTheHostsLoopback() throws Exception {
    org.junit.jupiter.api.Assumptions.assumeTrue(runtime.jobsIsolated(), "slirp4netns is not installed");
    List<String> out = new CopyOnWriteArrayList<>();
    JobRunner.Job job = job("probe", List.of("/usr/bin/node", "-e", String.join("\n",
        "const net = require('net');",
        "const c = net.connect(3306, '127.0.0.1');",
        "c.on('connect', () => { console.log('mariadb=CONNECTED'); process.exit(0); });",
        "c.on('error', (e) => { console.log('mariadb=' + e.code); process.exit(0); });",
        "setTimeout(() => { console.log('mariadb=TIMEOUT'); process.exit(0); }, 5000);")), out, Duration.ofSeconds(60));
    assertThat(jobs.run(job)).isZero();
    assertThat(out).as("output %s", out).contains("mariadb=ECONNREFUSED");
  }

  @Test
  void npmInstallsFromTheRegistry() throws Exception {
    List<String> out = new CopyOnWriteArrayList<>();
    JobRunner.Job job = job("npm", List.of("/usr/bin/npm", "install", "--no-audit", "--no-fund", "is-number@7.0.0"),
        out, Duration.ofSeconds(120));
    int status = jobs.run(job);
    assertThat(status).as("npm output %s", out).isZero();
    assertThat(left.get("npm")).contains("node_modules/is-number/package.json");
    assertThat(TestData.containersOf(containerd.socket(), "jobs")).isEmpty();
  }

  @Test
  void sandboxesGetNoShellOrNpmWhileBuildJobsDo() throws Exception {
    Path sandboxTree = runtime.rootfs();
    Path buildTree = runtime.jobRootfs();
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
}
