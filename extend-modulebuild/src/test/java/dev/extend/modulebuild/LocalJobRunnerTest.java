package dev.extend.modulebuild;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.extend.spi.JobRunner;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeoutException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Runs real child processes through /bin/sh. */
class LocalJobRunnerTest {
  @TempDir Path work;
  private final JobRunner runner = JobRunner.localProcesses();

  private JobRunner.Job job(String script, Map<String, String> env, Duration timeout, List<String> out) {
    return new JobRunner.Job("t1", List.of("/bin/sh", "-c", script), env, work, timeout, out::add, dev.extend.testing.TestRuntimes.runtime(),
        dev.extend.testing.TestRuntimes.distribution());
  }

  @Test
  void runsInTheWorkDirWithOnlyTheJobsEnvironmentPlusPath() throws Exception {
    List<String> out = Collections.synchronizedList(new ArrayList<>());
    int status = runner.run(job("pwd; env | sort; echo err >&2; exit 3", Map.of("A", "1"), Duration.ofSeconds(30), out));
    assertThat(status).isEqualTo(3);
    assertThat(out).contains(work.toString(), "A=1", "err");
    assertThat(out).anyMatch(l -> l.startsWith("PATH="));
    // Nothing else of this JVM's environment (sh itself adds PWD, SHLVL and _).
    assertThat(out.stream().filter(l -> l.matches("[A-Za-z_][A-Za-z0-9_]*=.*"))
        .map(l -> l.substring(0, l.indexOf('='))))
        .allMatch(k -> List.of("A", "PATH", "PWD", "SHLVL", "_").contains(k));
    assertThat(runner.workPath(job("", Map.of(), Duration.ofSeconds(1), out))).isEqualTo(work.toAbsolutePath().toString());
  }

  @Test
  void timeoutKillsTheJobAndItsChildren() throws Exception {
    List<String> out = Collections.synchronizedList(new ArrayList<>());
    // A unique sleep duration marks the grandchild so the test can look for it afterwards.
    String marker = "300." + (System.nanoTime() % 1_000_000_000L);
    assertThatThrownBy(() -> runner.run(job("sh -c 'echo started; sleep " + marker + "' & wait",
        Map.of(), Duration.ofSeconds(2), out)))
        .isInstanceOf(TimeoutException.class).hasMessageContaining("t1");
    assertThat(out).contains("started");
    Thread.sleep(200);
    assertThat(ProcessHandle.allProcesses()
        .filter(p -> p.info().commandLine().orElse("").contains(marker))
        .filter(ProcessHandle::isAlive).toList()).isEmpty();
  }
}
