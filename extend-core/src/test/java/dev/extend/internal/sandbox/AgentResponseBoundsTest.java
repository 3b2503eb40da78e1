package dev.extend.internal.sandbox;

import static java.nio.charset.StandardCharsets.ISO_8859_1;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.io.InputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.IntFunction;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Both agent clients against a hostile agent that answers with raw bytes: the head an agent may
 * make the host read is bounded in lines and bytes, interim answers cannot go on forever, and
 * header names and values that could desynchronise a client are refused, each with {@link
 * AgentProtocolException} and without reading on.
 */
class AgentResponseBoundsTest {
  @TempDir
  Path dir;

  private ServerSocketChannel server;
  private Thread serving;
  private final AtomicLong written = new AtomicLong();
  private final AgentHttp blocking = new AgentHttp();
  private final AgentLoop loop = new AgentLoop("agent-bounds-test");

  @AfterEach
  void tearDown() throws Exception {
    blocking.close();
    loop.close();
    if (server != null) {
      server.close();
    }
    if (serving != null) {
      serving.interrupt();
      serving.join(5000);
    }
  }

  /**
   * A fake agent: reads a request head, then writes {@code chunk(i)} for i = 0, 1, ... until the
   * chunk is null or the client hangs up; counts what it managed to write.
   */
  private Path agent(IntFunction<String> chunk) throws IOException {
    Path socket = dir.resolve("agent.sock");
    server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
    server.bind(UnixDomainSocketAddress.of(socket));
    serving = new Thread(() -> {
      try {
        while (true) {
          try (SocketChannel c = server.accept()) {
            ByteBuffer in = ByteBuffer.allocate(8192);
            c.read(in);
            for (int i = 0; ; i++) {
              String s = chunk.apply(i);
              if (s == null) {
                break;
              }
              ByteBuffer out = ByteBuffer.wrap(s.getBytes(ISO_8859_1));
              while (out.hasRemaining()) {
                written.addAndGet(c.write(out));
              }
            }
            Thread.sleep(300);
          } catch (IOException e) {
            // the client hung up: what we wanted
          }
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      } catch (Exception e) {
        // server closed
      }
    }, "hostile-agent");
    serving.setDaemon(true);
    serving.start();
    return socket;
  }

  private void bothRefuse(Path socket, String what) throws Exception {
    assertThatThrownBy(() -> {
      AgentHttp.Response r = blocking.exchange(socket, "GET", "/_extend/run/x", List.of(), InputStream.nullInputStream(),
          0, 10_000);
      r.body().readAllBytes();
    }).isInstanceOf(AgentProtocolException.class).hasMessageContaining(what);
    assertThatThrownBy(() -> loop.exchange(socket, "GET", "/_extend/run/x", List.of(), ByteBuffer.allocate(0), 10_000)
        .get(10, TimeUnit.SECONDS))
        .hasCauseInstanceOf(AgentProtocolException.class).hasMessageContaining(what);
  }

  @Test
  void endlessHeaderLinesStopAtTheLineCap() throws Exception {
    Path socket = agent(i -> i == 0 ? "HTTP/1.1 200 OK\r\n" : "x-flood-" + i + ": " + "a".repeat(20) + "\r\n");
    bothRefuse(socket, "more than " + ResponseHead.MAX_HEADER_LINES + " header lines");
    // The host stopped reading: what the agent wrote is bounded by socket buffers, not by its
    // wish (it would write forever).
    Thread.sleep(200);
    assertThat(written.get()).isLessThan(8L << 20);
  }

  @Test
  void aFewHugeHeaderLinesStopAtTheByteCap() throws Exception {
    Path socket = agent(i -> i == 0 ? "HTTP/1.1 200 OK\r\n" : i < 100 ? "x-big-" + i + ": " + "b".repeat(30_000) + "\r\n"
        : null);
    bothRefuse(socket, "a head over " + ResponseHead.MAX_HEAD_BYTES + " bytes");
  }

  @Test
  void interimAnswersCannotGoOnForever() throws Exception {
    Path socket = agent(i -> "HTTP/1.1 100 Continue\r\n\r\n");
    bothRefuse(socket, "interim answers");
  }

  @Test
  void headerNamesThatAreNotTokensAreRefused() throws Exception {
    Path socket = agent(i -> i == 0 ? "HTTP/1.1 200 OK\r\nbad name: x\r\nContent-Length: 0\r\n\r\n" : null);
    bothRefuse(socket, "not an HTTP token");
  }

  @Test
  void valuesWithNulOrBareCrAreRefused() throws Exception {
    Path socket = agent(i -> i == 0 ? "HTTP/1.1 200 OK\r\nx-a: one\u0000two\r\nContent-Length: 0\r\n\r\n" : null);
    bothRefuse(socket, "CR, LF or NUL");
  }

  @Test
  void foldedLinesAreRefused() throws Exception {
    Path socket = agent(i -> i == 0 ? "HTTP/1.1 200 OK\r\nx-a: one\r\n two\r\nContent-Length: 0\r\n\r\n" : null);
    bothRefuse(socket, "a folded header line");
  }

  @Test
  void malformedStatusLinesAreRefused() throws Exception {
    Path socket = agent(i -> i == 0 ? "HTTP/1.1 2x0 OK\r\n\r\n" : null);
    bothRefuse(socket, "malformed status line");
  }

  @Test
  void anOrdinaryAnswerStillPasses() throws Exception {
    Path socket = agent(i -> i == 0 ? "HTTP/1.1 200 OK\r\nX-Fine: yes\r\nContent-Length: 2\r\n\r\nok" : null);
    AgentHttp.Response r = blocking.exchange(socket, "GET", "/_extend/run/x", List.of(), InputStream.nullInputStream(),
        0, 10_000);
    assertThat(r.status()).isEqualTo(200);
    assertThat(r.headers().first("x-fine")).isEqualTo("yes");
    assertThat(new String(r.body().readAllBytes(), ISO_8859_1)).isEqualTo("ok");
    try {
      AgentHttp.Response r2 = loop.exchange(socket, "GET", "/_extend/run/x", List.of(), ByteBuffer.allocate(0), 10_000)
          .get(10, TimeUnit.SECONDS);
      assertThat(r2.status()).isEqualTo(200);
    } catch (java.util.concurrent.ExecutionException e) {
      throw new AssertionError(e.getCause());
    }
  }

  @Test
  void twoContentLengthsThatDisagreeAreRefused() throws Exception {
    Path socket = agent(i -> i == 0 ? "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 10\r\n\r\n0123456789"
        : null);
    bothRefuse(socket, "two content-lengths that disagree");
  }

  @Test
  void aChunkedAnswerDoesNotHandOnItsContentLength() throws Exception {
    Path socket = agent(i -> i == 0
        ? "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\na\r\n0123456789\r\n0\r\n\r\n"
        : null);
    AgentHttp.Response r = blocking.exchange(socket, "GET", "/_extend/run/x", List.of(), InputStream.nullInputStream(),
        0, 10_000);
    assertThat(new String(r.body().readAllBytes(), ISO_8859_1)).isEqualTo("0123456789");
    assertThat(r.headers().all("content-length")).isEmpty();
    AgentHttp.Response r2 = loop.exchange(socket, "GET", "/_extend/run/x", List.of(), ByteBuffer.allocate(0), 10_000)
        .get(10, TimeUnit.SECONDS);
    assertThat(new String(r2.body().readAllBytes(), ISO_8859_1)).isEqualTo("0123456789");
    assertThat(r2.headers().all("content-length")).isEmpty();
  }

  @Test
  void aLoadAnswerIsReadOnlyUpToTheControlCap() throws Exception {
    // 200 with a body the agent would write forever
    Path socket = agent(i -> i == 0 ? "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" : " ".repeat(64 * 1024));
    AgentClient.LoadResult r = new AgentClient(blocking).load(socket, "victim", java.util.Map.of("file", "x"), 10_000);
    assertThat(r.ok()).isTrue();
    Thread.sleep(200);
    assertThat(written.get()).isLessThan(8L << 20);
  }

  @Test
  void aLoadErrorCutAtTheCapStillAnswersAFailure() throws Exception {
    Path socket = agent(i -> i == 0 ? "HTTP/1.1 422 Unprocessable\r\nConnection: close\r\n\r\n{\"error\":{\"message\":\""
        : "x".repeat(64 * 1024));
    AgentClient.LoadResult r = new AgentClient(blocking).load(socket, "victim", java.util.Map.of("file", "x"), 10_000);
    assertThat(r.ok()).isFalse();
    assertThat(r.message().length()).isLessThanOrEqualTo(AgentClient.MAX_CONTROL_ANSWER);
  }
}
