package dev.extend.bench;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * Runs the whole bench with {@code --quick --runtime local} (real Node, real npm against the
 * local fixture registry) and checks the table's shape: every row is there and every figure and
 * ratio is a finite number. It asserts nothing about how fast anything is.
 */
class BenchSmokeTest {

  @Test
  void quickLocalRunPrintsEveryRowWithFiniteFigures() throws Exception {
    boolean ci = "true".equalsIgnoreCase(System.getenv("CI"));
    boolean node = Files.isExecutable(Path.of("/usr/bin/node"));
    if (ci) {
      assertThat(node).as("/usr/bin/node is required (CI=true)").isTrue();
    } else {
      Assumptions.assumeTrue(node, "/usr/bin/node is required");
    }
    ByteArrayOutputStream progress = new ByteArrayOutputStream();
    Table t = Bench.run(new String[] {"--quick", "--runtime", "local"},
        new PrintStream(progress, true, StandardCharsets.UTF_8));

    for (String metric : Bench.allMetrics(Wrk.available())) {
      Table.Row r = t.row(metric);
      assertThat(r).as("row '%s'", metric).isNotNull();
      assertThat(Double.isFinite(r.value())).as("value of '%s' = %s", metric, r.value()).isTrue();
      if (r.ratio() != null) {
        assertThat(Double.isFinite(r.ratio())).as("ratio of '%s' = %s", metric, r.ratio()).isTrue();
      }
    }
    for (String withRatio : new String[] {"warm invoke: throughput", "http server: throughput",
        "pool-empty cold start: p50", "pooled cold, 3 modules on host: p50"}) {
      assertThat(t.row(withRatio).ratio()).as("ratio of '%s'", withRatio).isNotNull();
    }
    assertThat(t.footer()).anySatisfy(l -> assertThat(l).contains("cores"));

    ByteArrayOutputStream printed = new ByteArrayOutputStream();
    t.print(new PrintStream(printed, true, StandardCharsets.UTF_8));
    String text = printed.toString(StandardCharsets.UTF_8);
    assertThat(text).startsWith("metric").contains("warm invoke: sequential p50").contains("req/s");
    System.out.println(text);
  }
}
