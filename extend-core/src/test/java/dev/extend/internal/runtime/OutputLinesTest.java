package dev.extend.internal.runtime;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayInputStream;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class OutputLinesTest {
  private static List<String> lines(InputStream in) {
    List<String> out = new ArrayList<>();
    OutputLines.forward(in, out::add);
    return out;
  }

  @Test
  void splitsLinesAndKeepsALastUnterminatedOne() {
    byte[] b = "one\r\ntwo\n\nthree".getBytes(StandardCharsets.UTF_8);
    assertThat(lines(new ByteArrayInputStream(b))).containsExactly("one", "two", "", "three");
  }

  @Test
  void anEndlessLineIsCutWithoutBeingHeldWhole() {
    long total = 200L << 20; // 200 MiB without a line break: far more than a line may hold
    InputStream endless = new InputStream() {
      long left = total;

      @Override
      public int read() {
        return left-- > 0 ? 'x' : -1;
      }

      @Override
      public int read(byte[] buf, int off, int len) {
        if (left <= 0) {
          return -1;
        }
        int n = (int) Math.min(len, left);
        java.util.Arrays.fill(buf, off, off + n, (byte) 'x');
        left -= n;
        return n;
      }
    };
    List<String> out = lines(endless);
    assertThat(out).hasSize(1);
    assertThat(out.get(0)).hasSize(OutputLines.MAX_LINE_CHARS + "... (line truncated)".length())
        .endsWith("... (line truncated)");
  }

  @Test
  void aFailingConsumerDoesNotStopTheForwarding() {
    List<String> seen = new ArrayList<>();
    OutputLines.forward(new ByteArrayInputStream("a\nb\n".getBytes(StandardCharsets.UTF_8)), l -> {
      seen.add(l);
      throw new IllegalStateException("listener bug");
    });
    assertThat(seen).containsExactly("a", "b");
  }
}
