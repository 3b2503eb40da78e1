package dev.extend.containerd;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Following an append-only output file the way the shim writes it. */
class OutputTailerTest {
  @TempDir Path tmp;

  static void append(Path f, String s) throws Exception {
    Files.writeString(f, s, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
  }

  static void await(List<String> lines, int n) throws InterruptedException {
    for (int i = 0; i < 500 && lines.size() < n; i++) {
      Thread.sleep(10);
    }
  }

  @Test
  void deliversCompleteLinesAndTheLastPartialOneOnFinish() throws Exception {
    List<String> lines = new CopyOnWriteArrayList<>();
    Path f = tmp.resolve("out.log");
    try (OutputTailer t = new OutputTailer(1 << 20, 10)) {
      t.follow(f, lines::add); // before the file exists, as with a task not yet started
      append(f, "one\ntw");
      await(lines, 1);
      assertThat(lines).containsExactly("one");
      append(f, "o\r\n\nthree");
      await(lines, 3);
      t.finish(f);
      assertThat(lines).containsExactly("one", "two", "", "three");
    }
  }

  @Test
  void stopsFeedingPastTheCapAndKeepsTheFileSmall() throws Exception {
    List<String> lines = new CopyOnWriteArrayList<>();
    Path f = tmp.resolve("flood.log");
    try (OutputTailer t = new OutputTailer(4096, 10)) {
      t.follow(f, lines::add);
      String line = "x".repeat(99) + "\n";
      append(f, line.repeat(100)); // 10 kB
      for (int i = 0; i < 500 && lines.stream().noneMatch(l -> l.startsWith("[extend]")); i++) {
        Thread.sleep(10);
      }
      append(f, "after the cap\n".repeat(1000));
      Thread.sleep(100);
      t.finish(f);
      assertThat(lines.get(lines.size() - 1)).contains("output exceeded 4096 bytes");
      assertThat(lines).doesNotContain("after the cap");
      assertThat(lines.size()).isLessThan(100);
      assertThat(Files.size(f)).isLessThan(20_000);
    }
  }
}
