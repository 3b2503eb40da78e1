package dev.extend.modulebuild;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class BoundedLogTest {

  @Test
  void shortLogPassesUnchanged() {
    List<String> out = new ArrayList<>();
    BoundedLog log = new BoundedLog(out::add, 1024);
    log.accept("one");
    log.accept("two");
    log.flush();
    assertThat(out).containsExactly("one", "two");
  }

  @Test
  void longLogKeepsBeginningAndEnd() {
    List<String> out = new ArrayList<>();
    BoundedLog log = new BoundedLog(out::add, 2000);
    for (int i = 0; i < 1000; i++) {
      log.accept(String.format("line %04d ....................", i)); // 30 bytes + newline
    }
    log.flush();
    assertThat(out.get(0)).startsWith("line 0000");
    assertThat(out.get(out.size() - 1)).startsWith("line 0999");
    assertThat(out).anyMatch(l -> l.matches("\\.\\.\\. \\d+ lines of output left out \\.\\.\\."));
    long bytes = out.stream().mapToLong(l -> l.length() + 1).sum();
    assertThat(bytes).isLessThanOrEqualTo(2000 + 60);
    // Lines stay in order.
    List<Integer> numbers = out.stream().filter(l -> l.startsWith("line ")).map(l -> Integer.parseInt(l.substring(5, 9))).toList();
    assertThat(numbers).isSorted();
  }
}
