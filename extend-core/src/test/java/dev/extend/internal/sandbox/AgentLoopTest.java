package dev.extend.internal.sandbox;

import static java.nio.charset.StandardCharsets.ISO_8859_1;
import static java.nio.charset.StandardCharsets.UTF_8;
import static java.util.concurrent.TimeUnit.SECONDS;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import dev.extend.spi.EventLoop;
import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.SelectableChannel;
import java.nio.channels.SelectionKey;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Queue;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Tests of {@link AgentLoop} against a scripted fake agent: a Unix-socket server whose answers
 * are raw bytes chosen by each test.
 */
class AgentLoopTest {
  private static final AtomicInteger LOOPS = new AtomicInteger();
  private static final ByteBuffer NO_BODY = ByteBuffer.allocate(0);
  private static final long WAIT = 10; // seconds, for anything that should happen "soon"

  @TempDir
  Path dir;

  private Path socket;
  private String loopName;
  private AgentLoop client;
  private ExecutorService readers;
  private final List<AutoCloseable> cleanup = new ArrayList<>();

  @BeforeEach
  void setUp() {
    socket = dir.resolve("agent.sock");
    loopName = "agent-loop-test-" + LOOPS.incrementAndGet();
    client = new AgentLoop(loopName);
    readers = Executors.newCachedThreadPool(r -> {
      Thread t = new Thread(r, "agent-loop-test-reader");
      t.setDaemon(true);
      return t;
    });
  }

  @AfterEach
  void tearDown() {
    client.close();
    Collections.reverse(cleanup);
    for (AutoCloseable c : cleanup) {
      try {
        c.close();
      } catch (Exception e) {
        // best effort
      }
    }
    readers.shutdownNow();
  }

  // ---- 1. simple exchanges ------------------------------------------------------------------------

  @Test
  void simpleGetDeliversStatusHeadersAndWholeBody() throws Exception {
    FakeAgent agent = agent(each(r -> ascii("HTTP/1.1 200 OK\r\n"
        + "Content-Type: text/plain\r\n"
        + "X-Multi: a\r\n"
        + "x-multi: b\r\n"
        + "Connection: keep-alive\r\n"
        + "Keep-Alive: timeout=5\r\n"
        + "Content-Length: 5\r\n"
        + "\r\n"
        + "hello")));

    AgentHttp.Response r = await(client.exchange(socket, "GET", "/_extend/run/hook/rest?q=1&x=%20",
        List.of(Map.entry("X-Trace", "abc"), Map.entry("Accept", "*/*")), NO_BODY, 10_000));

    assertThat(r.status()).isEqualTo(200);
    assertThat(r.errorCode()).isNull();
    assertThat(r.whole()).isEqualTo(ascii("hello"));
    assertThat(r.body().readAllBytes()).isEqualTo(ascii("hello"));
    assertThat(r.headers().names()).containsExactlyInAnyOrder("content-type", "x-multi", "content-length");
    assertThat(r.headers().first("Content-Type")).isEqualTo("text/plain");
    assertThat(r.headers().all("x-multi")).containsExactly("a", "b");
    assertThat(r.headers().first("content-length")).isEqualTo("5");

    Request req = agent.nextRequest();
    assertThat(req.method()).isEqualTo("GET");
    assertThat(req.target()).isEqualTo("/_extend/run/hook/rest?q=1&x=%20");
    assertThat(req.version()).isEqualTo("HTTP/1.1");
    assertThat(req.header("x-trace")).isEqualTo("abc");
    assertThat(req.header("accept")).isEqualTo("*/*");
    assertThat(req.header("host")).isEqualTo("localhost");
    assertThat(req.header("content-length")).isNull();
    assertThat(req.header("transfer-encoding")).isNull();
    assertThat(req.body()).isEmpty();
    assertThat(req.headerNames()).containsExactly("Host", "X-Trace", "Accept");
  }

  @Test
  void postSendsContentLengthAndExactBytesOfTheBuffersRemainder() throws Exception {
    FakeAgent agent = agent(each(r -> ok("got " + r.body().length)));
    byte[] all = new byte[40];
    for (int i = 0; i < all.length; i++) {
      all[i] = (byte) (i * 37);
    }
    all[5] = '\r';
    all[6] = '\n';
    all[7] = 0;
    ByteBuffer body = ByteBuffer.wrap(all, 3, 20);

    AgentHttp.Response r = await(client.exchange(socket, "POST", "/p",
        List.of(Map.entry("Content-Type", "application/octet-stream")), body, 10_000));

    assertThat(r.whole()).isEqualTo(ascii("got 20"));
    Request req = agent.nextRequest();
    assertThat(req.method()).isEqualTo("POST");
    assertThat(req.header("content-length")).isEqualTo("20");
    assertThat(req.header("content-type")).isEqualTo("application/octet-stream");
    assertThat(req.body()).isEqualTo(Arrays.copyOfRange(all, 3, 23));
    // the caller's buffer is left as it was
    assertThat(body.position()).isEqualTo(3);
    assertThat(body.remaining()).isEqualTo(20);
  }

  @Test
  void largePostBodyIsSentWhole() throws Exception {
    FakeAgent agent = agent(each(r -> ok("len=" + r.body().length)));
    byte[] payload = pattern(2 * 1024 * 1024 + 7, 3);

    AgentHttp.Response r = await(client.exchange(socket, "PUT", "/big", List.of(), ByteBuffer.wrap(payload), 30_000));

    assertThat(new String(r.whole(), UTF_8)).isEqualTo("len=" + payload.length);
    Request req = agent.nextRequest();
    assertThat(req.header("content-length")).isEqualTo(Integer.toString(payload.length));
    assertThat(req.body()).isEqualTo(payload);
  }

  @Test
  void headersThatWouldCorruptTheRequestAreNotSent() throws Exception {
    FakeAgent agent = agent(each(r -> ok("ok")));

    await(client.exchange(socket, "GET", "/h", List.of(
        Map.entry("Good", "1"),
        Map.entry("Bad Name", "2"),
        Map.entry("", "3"),
        Map.entry("X-Split", "a\r\nInjected: yes"),
        Map.entry("X-Lf", "a\nInjected: yes"),
        Map.entry("X-Last", "ok")), NO_BODY, 10_000));

    Request req = agent.nextRequest();
    assertThat(req.headerNames()).containsExactly("Host", "Good", "X-Last");
    assertThat(req.header("injected")).isNull();
  }

  // ---- 2. keep-alive --------------------------------------------------------------------------------

  @Test
  void sequentialExchangesReuseOneConnection() throws Exception {
    FakeAgent agent = agent(each(r -> ok("answer to " + r.target())));

    for (int i = 0; i < 5; i++) {
      AgentHttp.Response r = await(get("/seq/" + i));
      assertThat(new String(r.whole(), UTF_8)).isEqualTo("answer to /seq/" + i);
    }

    assertThat(agent.accepted.get()).isEqualTo(1);
    assertThat(agent.all).extracting(Request::conn).containsOnly(0).hasSize(5);
  }

  @Test
  void connectionCloseAnswerIsNotReused() throws Exception {
    FakeAgent agent = agent(c -> {
      Request r = c.read();
      if (r != null) {
        c.send(ok("closing", "Connection: close"));
      }
      // and the agent closes it, as announced
    });

    assertThat(await(get("/1")).whole()).isEqualTo(ascii("closing"));
    assertThat(await(get("/2")).whole()).isEqualTo(ascii("closing"));

    assertThat(agent.accepted.get()).isEqualTo(2);
    assertThat(agent.all).extracting(Request::conn).containsExactly(0, 1);
  }

  @Test
  void exchangesInFlightTogetherUseSeparateConnections() throws Exception {
    CountDownLatch both = new CountDownLatch(2);
    FakeAgent agent = agent(each(r -> {
      both.countDown();
      // neither is answered until both requests arrived: they cannot share a connection
      assertThat(both.await(WAIT, SECONDS)).isTrue();
      return ok("to " + r.target());
    }));

    CompletableFuture<AgentHttp.Response> a = get("/a");
    CompletableFuture<AgentHttp.Response> b = get("/b");

    assertThat(await(a).whole()).isEqualTo(ascii("to /a"));
    assertThat(await(b).whole()).isEqualTo(ascii("to /b"));
    assertThat(agent.accepted.get()).isEqualTo(2);
  }

  // ---- 3. bodyless answers --------------------------------------------------------------------------

  @Test
  void headAnd204And304AnswersHaveNoBodyAndKeepTheConnection() throws Exception {
    FakeAgent agent = agent(each(r -> {
      if (r.method().equals("HEAD")) {
        // the length of the body a GET would get; no body follows
        return ascii("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\n");
      }
      return byTarget(r, Map.of(
          "/204", "HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n",
          "/304", "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\nETag: \"x\"\r\n\r\n",
          "/empty", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"), ok("after"));
    }));

    AgentHttp.Response head = await(client.exchange(socket, "HEAD", "/h", List.of(), NO_BODY, 10_000));
    assertThat(head.status()).isEqualTo(200);
    assertThat(head.whole()).isEmpty();
    assertThat(head.body().read()).isEqualTo(-1);
    assertThat(head.headers().first("content-length")).isEqualTo("5");
    assertThat(head.headers().first("content-type")).isEqualTo("text/plain");

    AgentHttp.Response noContent = await(get("/204"));
    assertThat(noContent.status()).isEqualTo(204);
    assertThat(noContent.whole()).isEmpty();
    assertThat(noContent.body().read()).isEqualTo(-1);
    assertThat(noContent.headers().first("x-a")).isEqualTo("1");

    AgentHttp.Response notModified = await(get("/304"));
    assertThat(notModified.status()).isEqualTo(304);
    assertThat(notModified.whole()).isEmpty();
    assertThat(notModified.headers().first("etag")).isEqualTo("\"x\"");

    AgentHttp.Response empty = await(get("/empty"));
    assertThat(empty.status()).isEqualTo(200);
    assertThat(empty.whole()).isEmpty();

    // had any of them waited for a body, this answer would be lost or garbled
    AgentHttp.Response after = await(get("/after"));
    assertThat(after.whole()).isEqualTo(ascii("after"));
    assertThat(agent.accepted.get()).isEqualTo(1);
  }

  // ---- 4. interim answers ---------------------------------------------------------------------------

  @Test
  void interimAnswersAreSkipped() throws Exception {
    FakeAgent agent = agent(each(r -> {
      if (r.target().equals("/split")) {
        return null; // answered by hand below
      }
      return concat(
          ascii("HTTP/1.1 100 Continue\r\nX-Interim: yes\r\n\r\n"),
          ascii("HTTP/1.1 102 Processing\r\n\r\n"),
          ok("final", "X-Final: yes"));
    }, (c, r) -> {
      c.send(ascii("HTTP/1.1 100 Continue\r\n\r\n"));
      Thread.sleep(100);
      c.send(ok("later"));
    }));

    AgentHttp.Response one = await(get("/together"));
    assertThat(one.status()).isEqualTo(200);
    assertThat(one.whole()).isEqualTo(ascii("final"));
    assertThat(one.headers().first("x-final")).isEqualTo("yes");
    assertThat(one.headers().first("x-interim")).isNull();

    AgentHttp.Response two = await(get("/split"));
    assertThat(two.status()).isEqualTo(200);
    assertThat(two.whole()).isEqualTo(ascii("later"));
    assertThat(agent.accepted.get()).isEqualTo(1);
  }

  // ---- 5. error code --------------------------------------------------------------------------------

  @Test
  void extendErrorHeaderSetsTheErrorCode() throws Exception {
    agent(each(r -> ascii("HTTP/1.1 502 Bad Gateway\r\nX-Extend-Error:  handler_crashed \r\n"
        + "Content-Type: text/plain\r\nContent-Length: 4\r\n\r\noops")));

    AgentHttp.Response r = await(get("/e"));

    assertThat(r.status()).isEqualTo(502);
    assertThat(r.errorCode()).isEqualTo("handler_crashed");
    assertThat(r.headers().first("x-extend-error")).isNull();
    assertThat(r.whole()).isEqualTo(ascii("oops"));
  }

  // ---- 6. chunked -----------------------------------------------------------------------------------

  @Test
  void chunkedAnswerStreamsDeChunkedBytesAndKeepsTheConnection() throws Exception {
    FakeAgent agent = agent(each(r -> {
      if (!r.target().equals("/chunked")) {
        return ok("next");
      }
      return ascii("HTTP/1.1 200 OK\r\n"
          + "Transfer-Encoding: chunked\r\n"
          + "Content-Type: text/plain\r\n"
          + "\r\n"
          + "5;name=value\r\nhello\r\n"
          + "1\r\n,\r\n"
          + "a \r\n0123456789\r\n"
          + "C;x=\"q\";y\r\n abcdefghijk\r\n"
          + "0\r\n"
          + "X-Checksum: abc\r\n"
          + "X-Other: 1\r\n"
          + "\r\n");
    }));

    AgentHttp.Response r = await(get("/chunked"));

    assertThat(r.status()).isEqualTo(200);
    assertThat(r.whole()).isNull();
    assertThat(r.headers().names()).containsExactly("content-type");
    assertThat(new String(readAll(r.body()), ISO_8859_1)).isEqualTo("hello,0123456789 abcdefghijk");
    assertThat(r.body().read()).isEqualTo(-1);
    r.body().close();

    // The body's end is signalled to the reader just before the loop puts the connection back
    // in its pool: give it a moment, then the next exchange must reuse it.
    Thread.sleep(100);
    assertThat(await(get("/next")).whole()).isEqualTo(ascii("next"));
    assertThat(agent.accepted.get()).isEqualTo(1);
  }

  @Test
  void chunkedAnswerWithManyChunksAcrossReads() throws Exception {
    byte[] data = pattern(700_000, 11);
    agent(each(r -> {
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      out.write(ascii("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"));
      int at = 0;
      int size = 1;
      while (at < data.length) {
        int n = Math.min(size, data.length - at);
        out.write(ascii(Integer.toHexString(n) + "\r\n"));
        out.write(data, at, n);
        out.write(ascii("\r\n"));
        at += n;
        size = size * 3 % 20_011 + 1;
      }
      out.write(ascii("0\r\n\r\n"));
      return out.toByteArray();
    }));

    AgentHttp.Response r = await(get("/many"));

    assertThat(r.whole()).isNull();
    assertThat(r.headers().first("transfer-encoding")).isNull();
    assertThat(readAll(r.body())).isEqualTo(data);
  }

  /**
   * A chunked answer slightly over the stream buffer, arriving at once while the reader has not
   * started yet: the loop pauses reading with the answer's end still in its own buffer.
   */
  @Test
  void chunkedAnswerJustOverTheStreamBufferCompletesWhenReadLate() throws Exception {
    byte[] data = pattern(256 * 1024, 5);
    agent(each(r -> concat(
        ascii("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + Integer.toHexString(data.length) + "\r\n"),
        data,
        ascii("\r\n0\r\n\r\n"))));

    AgentHttp.Response r = await(client.exchange(socket, "GET", "/late", List.of(), NO_BODY, 5_000));
    Thread.sleep(500); // the loop buffers what it can meanwhile

    assertThat(r.whole()).isNull();
    ByteArrayOutputStream got = new ByteArrayOutputStream();
    CompletableFuture<Throwable> read = CompletableFuture.supplyAsync(() -> {
      try {
        byte[] buf = new byte[8192];
        for (int n; (n = r.body().read(buf)) >= 0; ) {
          synchronized (got) {
            got.write(buf, 0, n);
          }
        }
        return null;
      } catch (IOException e) {
        return e;
      }
    }, readers);
    Throwable failure = read.get(30, SECONDS);
    synchronized (got) {
      assertThat(failure).as("reading failed after %d of %d bytes", got.size(), data.length).isNull();
      assertThat(got.toByteArray()).isEqualTo(data);
    }
  }

  /** As above, but the answer's end arrives on the socket after the loop paused: it is read then. */
  @Test
  void chunkedAnswerJustOverTheStreamBufferWhoseEndArrivesLater() throws Exception {
    byte[] data = pattern(256 * 1024, 5);
    agent(each(r -> null, (c, r) -> {
      c.send(concat(ascii("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
          + Integer.toHexString(data.length) + "\r\n"), data));
      Thread.sleep(500);
      c.send(ascii("\r\n0\r\n\r\n"));
    }));

    AgentHttp.Response r = await(client.exchange(socket, "GET", "/late", List.of(), NO_BODY, 5_000));
    Thread.sleep(1_000);

    assertThat(readAll(r.body())).isEqualTo(data);
  }

  @Test
  void malformedChunkSizeFailsTheBodysReader() throws Exception {
    agent(each(r -> ascii("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nzz\r\n")));

    AgentHttp.Response r = await(get("/bad-chunk"));

    Throwable t = readFailure(r.body());
    assertThat(t).isInstanceOf(IOException.class);
  }

  // ---- 7. large streamed bodies ----------------------------------------------------------------------

  @Test
  void largeContentLengthBodyStreamsToASlowReader() throws Exception {
    byte[] data = pattern(3 * 1024 * 1024, 7);
    agent(each(r -> concat(ascii("HTTP/1.1 200 OK\r\nContent-Length: " + data.length + "\r\n\r\n"), data)));

    AgentHttp.Response r = await(client.exchange(socket, "GET", "/large", List.of(), NO_BODY, 60_000));
    assertThat(r.whole()).isNull();
    assertThat(r.headers().first("content-length")).isEqualTo(Integer.toString(data.length));

    CompletableFuture<byte[]> read = CompletableFuture.supplyAsync(() -> {
      try {
        InputStream in = r.body();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        byte[] buf = new byte[7_000];
        int reads = 0;
        for (int n; (n = in.read(buf, 0, 1 + reads % buf.length)) >= 0; ) {
          out.write(buf, 0, n);
          if (++reads % 8 == 0) {
            Thread.sleep(1);
          }
        }
        return out.toByteArray();
      } catch (IOException | InterruptedException e) {
        throw new CompletionException(e);
      }
    }, readers);

    assertThat(read.get(60, SECONDS)).isEqualTo(data);
  }

  @Test
  void bodiesUpToWholeMaxAreDeliveredWholeAndLongerOnesStream() throws Exception {
    byte[] max = pattern(AgentLoop.WHOLE_MAX, 1);
    byte[] over = pattern(AgentLoop.WHOLE_MAX + 1, 2);
    agent(each(r -> {
      byte[] b = r.target().equals("/max") ? max : over;
      return concat(ascii("HTTP/1.1 200 OK\r\nContent-Length: " + b.length + "\r\n\r\n"), b);
    }));

    AgentHttp.Response atMax = await(get("/max"));
    assertThat(atMax.whole()).isEqualTo(max);
    assertThat(atMax.body().readAllBytes()).isEqualTo(max);

    AgentHttp.Response overMax = await(get("/over"));
    assertThat(overMax.whole()).isNull();
    assertThat(readAll(overMax.body())).isEqualTo(over);
  }

  // ---- 8. connection-delimited body ------------------------------------------------------------------

  @Test
  void connectionDelimitedBodyEndsAtEof() throws Exception {
    byte[] data = pattern(600_000, 9);
    FakeAgent agent = agent(c -> {
      if (c.index == 0) {
        c.read();
        c.send(concat(ascii("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n"), data));
        return; // closing ends the body
      }
      each(r -> ok("fresh")).serve(c);
    });

    AgentHttp.Response r = await(get("/delimited"));
    Thread.sleep(200); // lets the stream buffer fill and pause

    assertThat(r.whole()).isNull();
    assertThat(r.headers().first("content-type")).isEqualTo("application/octet-stream");
    assertThat(readAll(r.body())).isEqualTo(data);

    assertThat(await(get("/next")).whole()).isEqualTo(ascii("fresh"));
    assertThat(agent.accepted.get()).isEqualTo(2);
  }

  // ---- 9. timeouts ----------------------------------------------------------------------------------

  @Test
  void noAnswerWithinTheTimeoutFailsWithTimeoutException() throws Exception {
    FakeAgent agent = agent(c -> {
      if (c.index == 0) {
        c.read();
        c.awaitEof(); // never answers
        return;
      }
      each(r -> ok("fresh")).serve(c);
    });

    long start = System.nanoTime();
    Throwable t = failureOf(client.exchange(socket, "GET", "/silent", List.of(), NO_BODY, 300));
    long tookMs = (System.nanoTime() - start) / 1_000_000;

    assertThat(t).isInstanceOf(TimeoutException.class);
    assertThat(tookMs).isGreaterThanOrEqualTo(300).isLessThan(5_000);
    assertThat(agent.eofs.tryAcquire(WAIT, SECONDS)).as("the timed-out connection is closed").isTrue();

    // later exchanges are not affected
    assertThat(await(get("/after")).whole()).isEqualTo(ascii("fresh"));
  }

  @Test
  void timeoutInTheMiddleOfAStreamedBodyFailsItsReader() throws Exception {
    FakeAgent agent = agent(c -> {
      c.read();
      c.send(concat(ascii("HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\n\r\n"), pattern(1000, 4)));
      c.awaitEof();
    });

    AgentHttp.Response r = await(client.exchange(socket, "GET", "/stall", List.of(), NO_BODY, 500));
    assertThat(r.whole()).isNull();

    byte[] first = new byte[1000];
    CompletableFuture<Integer> got = CompletableFuture.supplyAsync(() -> {
      try {
        return r.body().readNBytes(first, 0, 1000);
      } catch (IOException e) {
        throw new CompletionException(e);
      }
    }, readers);
    assertThat(got.get(WAIT, SECONDS)).isEqualTo(1000);
    assertThat(first).isEqualTo(pattern(1000, 4));

    Throwable t = readFailure(r.body());
    assertThat(t).isInstanceOf(IOException.class).hasMessageContaining("timeout");
    assertThat(agent.eofs.tryAcquire(WAIT, SECONDS)).isTrue();
  }

  @Test
  void timeoutWhileTheRequestBodyIsStillBeingWrittenFailsWithTimeoutException() throws Exception {
    FakeAgent agent = agent(c -> {
      c.line(); // reads the request line, never the rest
      c.awaitEof();
    });

    Throwable t = failureOf(client.exchange(socket, "POST", "/unread", List.of(),
        ByteBuffer.wrap(pattern(8 * 1024 * 1024, 2)), 500));

    assertThat(t).isInstanceOf(TimeoutException.class);
    assertThat(agent.eofs.tryAcquire(WAIT, SECONDS)).isTrue();
  }

  /**
   * The agent answers before it read the request's body (as a server rejecting an upload may),
   * then drains the body: the connection must not carry the next request before the rest of
   * the body was sent (the next request's bytes would land in the middle of the body, or the
   * body's rest would be dropped and the agent would wait for it).
   */
  @Test
  void answerBeforeTheRequestBodyWasSentDoesNotCorruptTheNextExchange() throws Exception {
    byte[] upload = pattern(4 * 1024 * 1024, 6);
    CompletableFuture<String> drained = new CompletableFuture<>();
    FakeAgent agent = agent(c -> {
      if (c.index == 0) {
        c.line();
        int length = 0;
        for (String h; !(h = c.line()).isEmpty(); ) {
          if (h.toLowerCase(Locale.ROOT).startsWith("content-length:")) {
            length = Integer.parseInt(h.substring(15).trim());
          }
        }
        c.send(ok("early"));
        Thread.sleep(300); // the client has the answer before any more of the body is taken
        byte[] body = c.in.readNBytes(length);
        if (body.length < length) {
          drained.complete("cut short at " + body.length + " bytes (the client closed the connection)");
          return;
        }
        if (!Arrays.equals(body, upload)) {
          drained.complete("corrupted");
          return; // no sense in reading requests after a garbled body
        }
        drained.complete("intact");
      }
      each(r -> ok("next " + r.target())).serve(c);
    });

    AgentHttp.Response early = await(client.exchange(socket, "POST", "/upload", List.of(), ByteBuffer.wrap(upload), 10_000));
    assertThat(early.whole()).isEqualTo(ascii("early"));

    Throwable failure = null;
    AgentHttp.Response next = null;
    try {
      next = client.exchange(socket, "GET", "/next", List.of(), NO_BODY, 3_000).get(WAIT, SECONDS);
    } catch (ExecutionException e) {
      failure = e.getCause();
    }
    assertThat(drained.get(WAIT, SECONDS)).as("the upload as the agent drained it").isNotEqualTo("corrupted");
    assertThat(failure).as("the exchange after the early answer").isNull();
    assertThat(next.whole()).isEqualTo(ascii("next /next"));
    assertThat(agent.all).extracting(Request::target).containsExactly("/next");
  }

  // ---- 10. agent closing connections ----------------------------------------------------------------

  @Test
  void bodylessRequestIsRetriedWhenThePooledConnectionWasClosedByTheAgent() throws Exception {
    FakeAgent agent = agent(c -> {
      if (c.index == 0) {
        c.read();
        c.send(ok("one"));
        c.read(); // the next request arrives just as the agent drops the idle connection
        return;
      }
      each(r -> ok("fresh " + r.target())).serve(c);
    });

    assertThat(await(get("/a")).whole()).isEqualTo(ascii("one"));
    assertThat(await(get("/b")).whole()).isEqualTo(ascii("fresh /b"));

    assertThat(agent.accepted.get()).isEqualTo(2);
    assertThat(agent.all).extracting(Request::target).containsExactly("/a", "/b", "/b");
    assertThat(agent.all).extracting(Request::conn).containsExactly(0, 0, 1);
  }

  @Test
  void requestWithABodyIsNotSentTwiceWhenThePooledConnectionWasClosedByTheAgent() throws Exception {
    FakeAgent agent = agent(c -> {
      if (c.index == 0) {
        c.read();
        c.send(ok("one"));
        c.read();
        return;
      }
      each(r -> ok("fresh " + r.target())).serve(c);
    });

    assertThat(await(get("/a")).whole()).isEqualTo(ascii("one"));
    Throwable t = failureOf(client.exchange(socket, "POST", "/once", List.of(),
        ByteBuffer.wrap(ascii("payload-xyz")), 10_000));
    assertThat(t).isInstanceOf(IOException.class);

    // a later exchange goes to a fresh connection; the POST reached the agent exactly once
    assertThat(await(get("/later")).whole()).isEqualTo(ascii("fresh /later"));
    assertThat(agent.all).extracting(Request::target).containsExactly("/a", "/once", "/later");
    assertThat(agent.all.get(1).body()).isEqualTo(ascii("payload-xyz"));
    assertThat(agent.accepted.get()).isEqualTo(2);
  }

  @Test
  void agentClosingIdleConnectionsIsTransparentForBodylessRequests() throws Exception {
    FakeAgent agent = agent(c -> {
      Request r = c.read();
      if (r != null) {
        c.send(ok("bye " + r.target())); // keep-alive announced, but the agent closes right after
      }
    });

    for (int i = 0; i < 10; i++) {
      if (i % 2 == 1) {
        Thread.sleep(50); // sometimes the loop noticed the close, sometimes not
      }
      assertThat(await(get("/r" + i)).whole()).isEqualTo(ascii("bye /r" + i));
    }
    assertThat(agent.accepted.get()).isEqualTo(10);
  }

  @Test
  void agentClosingAFreshConnectionBeforeAnsweringFails() throws Exception {
    FakeAgent agent = agent(c -> c.read());

    Throwable t = failureOf(get("/x"));

    assertThat(t).isInstanceOf(IOException.class);
    assertThat(agent.accepted.get()).isEqualTo(1);
  }

  @Test
  void agentClosingInTheMiddleOfAnAnswerFails() throws Exception {
    agent(c -> {
      Request r = c.read();
      if (r.target().equals("/whole")) {
        c.send(ascii("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part"));
      } else if (r.target().equals("/head")) {
        c.send(ascii("HTTP/1.1 200 OK\r\nContent-Le"));
      } else {
        c.send(concat(ascii("HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n"), pattern(5000, 1)));
      }
    });

    assertThat(failureOf(get("/whole"))).isInstanceOf(IOException.class);
    assertThat(failureOf(get("/head"))).isInstanceOf(IOException.class);

    AgentHttp.Response r = await(get("/streamed"));
    assertThat(r.whole()).isNull();
    assertThat(readFailure(r.body())).isInstanceOf(IOException.class);
  }

  // ---- 11. malformed answers ------------------------------------------------------------------------

  @Test
  void malformedAnswersFailTheExchange() throws Exception {
    agent(each(r -> byTarget(r, Map.of(
        "/short", "HTTP/1.1 OK\r\n\r\n",
        "/protocol", "SPDY/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        "/status", "HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n",
        "/garbage", "\u0000\u0001garbage garbage garbage\r\n\r\n",
        "/length", "HTTP/1.1 200 OK\r\nContent-Length: ten\r\n\r\n0123456789",
        "/negative", "HTTP/1.1 200 OK\r\nContent-Length: -4\r\n\r\n",
        "/chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nabc\r\n0\r\n\r\n"), ok("fine"))));

    for (String target : List.of("/short", "/protocol", "/status", "/garbage", "/length", "/negative")) {
      assertThat(failureOf(get(target))).as(target).isInstanceOf(IOException.class);
    }
    // a chunked body fails its reader
    AgentHttp.Response chunked = await(get("/chunk"));
    assertThat(readFailure(chunked.body())).isInstanceOf(IOException.class);
    assertThat(await(get("/fine")).whole()).isEqualTo(ascii("fine"));
  }

  @Test
  void headerLinesOver64KiBFailButLongOnesUnderItAreRead() throws Exception {
    String big = "v".repeat(40_000);
    agent(each(r -> {
      if (r.target().equals("/huge")) {
        return ascii("HTTP/1.1 200 OK\r\nX-Huge: " + "h".repeat(70 * 1024) + "\r\nContent-Length: 2\r\n\r\nhi");
      }
      return ascii("HTTP/1.1 200 OK\r\nX-Big: " + big + "\r\nContent-Length: 2\r\n\r\nhi");
    }));

    Throwable t = failureOf(get("/huge"));
    assertThat(t).isInstanceOf(IOException.class);

    AgentHttp.Response r = await(get("/big"));
    assertThat(r.headers().first("x-big")).isEqualTo(big);
    assertThat(r.whole()).isEqualTo(ascii("hi"));
  }

  @Test
  void answerDribbledByteByByteWithBareLineFeeds() throws Exception {
    FakeAgent agent = agent(each(r -> null, (c, r) -> {
      byte[] answer = r.target().equals("/whole")
          ? ascii("HTTP/1.1 200 OK\nX-A: 1\nContent-Length: 6\n\nabcdef")
          : ascii("HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;e\r\nde\r\n0\r\nT: 1\r\n\r\n");
      for (byte b : answer) {
        c.send(new byte[] {b});
        Thread.sleep(0, 200_000);
      }
    }));

    AgentHttp.Response whole = await(get("/whole"));
    assertThat(whole.headers().first("x-a")).isEqualTo("1");
    assertThat(whole.whole()).isEqualTo(ascii("abcdef"));

    AgentHttp.Response chunked = await(get("/chunked"));
    assertThat(chunked.status()).isEqualTo(201);
    assertThat(readAll(chunked.body())).isEqualTo(ascii("abcde"));
    assertThat(agent.accepted.get()).isEqualTo(1);
  }

  // ---- 12. closing a streamed body early ------------------------------------------------------------

  @Test
  void closingAStreamedBodyEarlyDropsItsConnection() throws Exception {
    byte[] data = pattern(3 * 1024 * 1024, 8);
    FakeAgent agent = agent(each(r -> {
      if (r.target().equals("/large")) {
        return concat(ascii("HTTP/1.1 200 OK\r\nContent-Length: " + data.length + "\r\n\r\n"), data);
      }
      return ok("small " + r.target());
    }));

    AgentHttp.Response r = await(get("/large"));
    assertThat(r.whole()).isNull();
    byte[] some = new byte[10_000];
    CompletableFuture<Integer> got = CompletableFuture.supplyAsync(() -> {
      try {
        int n = r.body().readNBytes(some, 0, some.length);
        r.body().close();
        return n;
      } catch (IOException e) {
        throw new CompletionException(e);
      }
    }, readers);
    assertThat(got.get(WAIT, SECONDS)).isEqualTo(10_000);
    assertThat(some).isEqualTo(Arrays.copyOf(data, 10_000));

    assertThat(await(get("/next")).whole()).isEqualTo(ascii("small /next"));
    assertThat(agent.accepted.get()).isEqualTo(2);
    assertThat(agent.all.get(1).conn()).isEqualTo(1);
    assertThat(agent.ends.tryAcquire(WAIT, SECONDS)).as("the abandoned connection is closed").isTrue();
  }

  @Test
  void closingAStreamedBodyReleasesAReaderBlockedInIt() throws Exception {
    agent(c -> {
      c.read();
      c.send(concat(ascii("HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\n\r\n"), pattern(100, 1)));
      c.awaitEof(); // the rest never comes
    });

    AgentHttp.Response r = await(client.exchange(socket, "GET", "/stall", List.of(), NO_BODY, 60_000));
    CountDownLatch started = new CountDownLatch(1);
    CompletableFuture<Integer> blocked = CompletableFuture.supplyAsync(() -> {
      try {
        r.body().readNBytes(100);
        started.countDown();
        return r.body().read(); // blocks: nothing more arrives
      } catch (IOException e) {
        return -2;
      }
    }, readers);
    assertThat(started.await(WAIT, SECONDS)).isTrue();
    Thread.sleep(200);

    r.body().close();

    assertThat(blocked.get(WAIT, SECONDS)).isIn(-1, -2);
  }

  @Test
  void readingAStreamedBodyAfterClosingItDoesNotHang() throws Exception {
    byte[] data = pattern(3 * 1024 * 1024, 8);
    agent(each(r -> concat(ascii("HTTP/1.1 200 OK\r\nContent-Length: " + data.length + "\r\n\r\n"), data)));

    AgentHttp.Response r = await(get("/large"));
    CompletableFuture<Integer> after = CompletableFuture.supplyAsync(() -> {
      try {
        r.body().readNBytes(100);
        r.body().close();
        return r.body().read();
      } catch (IOException e) {
        return -2; // a closed stream may as well throw
      }
    }, readers);

    assertThat(after.get(WAIT, SECONDS)).isIn(-1, -2);
  }

  // ---- 13. concurrency ------------------------------------------------------------------------------

  @Test
  void manyConcurrentExchangesGetTheirOwnAnswers() throws Exception {
    FakeAgent agent = agent(each(r -> {
      String id = r.header("x-id");
      return response("200 OK", bodyFor(Integer.parseInt(id)), "X-Id: " + id);
    }));
    int threads = 8;
    int total = 200;
    Map<Integer, CompletableFuture<AgentHttp.Response>> futures = new ConcurrentHashMap<>();
    CountDownLatch go = new CountDownLatch(1);
    ExecutorService starters = Executors.newFixedThreadPool(threads);
    try {
      List<CompletableFuture<Void>> started = new ArrayList<>();
      for (int t = 0; t < threads; t++) {
        int first = t;
        started.add(CompletableFuture.runAsync(() -> {
          try {
            go.await();
          } catch (InterruptedException e) {
            throw new CompletionException(e);
          }
          for (int id = first; id < total; id += threads) {
            futures.put(id, client.exchange(socket, "GET", "/c/" + id,
                List.of(Map.entry("X-Id", Integer.toString(id))), NO_BODY, 30_000));
          }
        }, starters));
      }
      go.countDown();
      CompletableFuture.allOf(started.toArray(new CompletableFuture[0])).get(30, SECONDS);
    } finally {
      starters.shutdownNow();
    }

    assertThat(futures).hasSize(total);
    for (int id = 0; id < total; id++) {
      AgentHttp.Response r = futures.get(id).get(30, SECONDS);
      assertThat(r.status()).isEqualTo(200);
      assertThat(r.headers().first("x-id")).isEqualTo(Integer.toString(id));
      byte[] body = r.whole() != null ? r.whole() : readAll(r.body());
      assertThat(body).as("body of %d", id).isEqualTo(bodyFor(id));
    }
    assertThat(agent.all).hasSize(total);
    assertThat(agent.accepted.get()).isBetween(1, total);
  }

  private static byte[] bodyFor(int id) {
    if (id % 40 == 0) {
      return pattern(300_000, id); // streamed
    }
    return ("id=" + id + ";").repeat(1 + id % 50).getBytes(UTF_8);
  }

  // ---- 14. attached event loops ---------------------------------------------------------------------

  @Test
  void exchangesStartedOnAnAttachedLoopCompleteOnIt() throws Exception {
    FakeAgent agent = agent(each(r -> {
      String delay = r.header("x-delay-ms");
      if (delay != null) {
        Thread.sleep(Long.parseLong(delay));
      }
      return ok("on " + r.target());
    }));
    TestEventLoop loop = new TestEventLoop("host-selector");
    cleanup.add(loop);
    AutoCloseable handle = client.attach(loop);

    Outcome one = startOn(loop, "/one", List.of()).get(WAIT, SECONDS);
    assertThat(one.failure()).isNull();
    assertThat(one.thread()).isSameAs(loop.thread);
    assertThat(one.response().whole()).isEqualTo(ascii("on /one"));

    Outcome two = startOn(loop, "/two", List.of()).get(WAIT, SECONDS);
    assertThat(two.thread()).isSameAs(loop.thread);
    assertThat(two.response().whole()).isEqualTo(ascii("on /two"));
    assertThat(agent.accepted.get()).as("the attached loop's pool is reused").isEqualTo(1);
    assertThat(loop.registered.get()).isEqualTo(1);

    // started elsewhere: the platform's own loop, with connections of its own
    CompletableFuture<Thread> on = new CompletableFuture<>();
    CompletableFuture<AgentHttp.Response> three = client.exchange(socket, "GET", "/three",
        List.of(Map.entry("X-Delay-Ms", "200")), NO_BODY, 10_000);
    three.whenComplete((r, e) -> on.complete(Thread.currentThread()));
    // (waiting on `three` itself first would let this thread run its dependents)
    assertThat(on.get(WAIT, SECONDS).getName()).isEqualTo(loopName);
    assertThat(await(three).whole()).isEqualTo(ascii("on /three"));
    assertThat(agent.accepted.get()).isEqualTo(2);

    handle.close();
    assertThat(agent.eofs.tryAcquire(WAIT, SECONDS)).as("detaching closes the loop's connections").isTrue();

    Outcome four = startOn(loop, "/four", List.of(Map.entry("X-Delay-Ms", "200"))).get(WAIT, SECONDS);
    assertThat(four.failure()).isNull();
    assertThat(four.response().whole()).isEqualTo(ascii("on /four"));
    assertThat(four.thread().getName()).isEqualTo(loopName);
    assertThat(loop.registered.get()).as("nothing new registered with the detached loop").isEqualTo(1);
  }

  @Test
  void detachingFailsExchangesInFlightOnTheLoop() throws Exception {
    FakeAgent agent = agent(c -> {
      c.read();
      c.awaitEof();
    });
    TestEventLoop loop = new TestEventLoop("host-selector");
    cleanup.add(loop);
    AutoCloseable handle = client.attach(loop);

    CompletableFuture<Outcome> pending = startOn(loop, "/hang", List.of());
    agent.nextRequest();
    handle.close();

    Outcome o = pending.get(WAIT, SECONDS);
    assertThat(o.failure()).isInstanceOf(IOException.class);
    assertThat(agent.eofs.tryAcquire(WAIT, SECONDS)).isTrue();
  }

  private record Outcome(Thread thread, AgentHttp.Response response, Throwable failure) {}

  private CompletableFuture<Outcome> startOn(TestEventLoop loop, String target,
      List<Map.Entry<String, String>> headers) {
    CompletableFuture<Outcome> out = new CompletableFuture<>();
    loop.execute(() -> {
      try {
        client.exchange(socket, "GET", target, headers, NO_BODY, 10_000)
            .whenComplete((r, e) -> out.complete(new Outcome(Thread.currentThread(), r, e)));
      } catch (RuntimeException e) {
        out.completeExceptionally(e);
      }
    });
    return out;
  }

  // ---- 15. forget -----------------------------------------------------------------------------------

  @Test
  void forgetClosesTheIdleConnectionsOfThatSocketOnly() throws Exception {
    FakeAgent agent = agent(each(r -> ok("ok")));

    await(get("/1"));
    client.forget(dir.resolve("other.sock"));
    await(get("/2"));
    assertThat(agent.accepted.get()).isEqualTo(1);

    client.forget(socket);
    assertThat(agent.eofs.tryAcquire(WAIT, SECONDS)).as("the idle connection is closed").isTrue();
    await(get("/3"));
    assertThat(agent.accepted.get()).isEqualTo(2);
    assertThat(agent.all).extracting(Request::conn).containsExactly(0, 0, 1);
  }

  // ---- closing and unreachable agents ---------------------------------------------------------------

  @Test
  void closingTheClientFailsExchangesInFlightAndRefusesNewOnes() throws Exception {
    FakeAgent agent = agent(c -> {
      Request r = c.read();
      if (r.target().equals("/idle")) {
        c.send(ok("idle"));
        c.read(); // null once the client closed the connection
        return;
      }
      c.awaitEof();
    });

    CompletableFuture<AgentHttp.Response> pending = get("/hang");
    assertThat(agent.nextRequest().target()).isEqualTo("/hang");
    await(get("/idle")); // on a second connection, left idle in the pool
    assertThat(agent.accepted.get()).isEqualTo(2);

    client.close();

    assertThat(failureOf(pending)).isInstanceOf(IOException.class);
    assertThat(agent.eofs.tryAcquire(2, WAIT, SECONDS)).as("all connections are closed").isTrue();
    assertThat(failureOf(get("/after"))).isInstanceOf(IOException.class);
  }

  @Test
  void unreachableAgentFailsWithIOException() throws Exception {
    Throwable t = failureOf(client.exchange(dir.resolve("missing.sock"), "GET", "/", List.of(), NO_BODY, 10_000));
    assertThat(t).isInstanceOf(IOException.class);
  }

  // ---- helpers --------------------------------------------------------------------------------------

  private CompletableFuture<AgentHttp.Response> get(String target) {
    return client.exchange(socket, "GET", target, List.of(), NO_BODY, 10_000);
  }

  private static AgentHttp.Response await(CompletableFuture<AgentHttp.Response> f) throws Exception {
    return f.get(WAIT, SECONDS);
  }

  /** The cause the future failed with; a future still pending after the wait fails the test. */
  private static Throwable failureOf(CompletableFuture<?> f) throws InterruptedException {
    try {
      Object v = f.get(WAIT, SECONDS);
      return fail("expected a failure, got " + v);
    } catch (ExecutionException e) {
      return e.getCause();
    } catch (TimeoutException e) {
      return fail("the exchange neither completed nor failed within " + WAIT + " s");
    }
  }

  /** Reads a body to its end on another thread, so a hang fails the test instead of blocking it. */
  private byte[] readAll(InputStream in) throws Exception {
    CompletableFuture<byte[]> f = readAsync(in);
    try {
      return f.get(30, SECONDS);
    } catch (ExecutionException e) {
      throw new AssertionError("reading the body failed", e.getCause());
    }
  }

  /** The exception reading a body to its end throws. */
  private Throwable readFailure(InputStream in) throws Exception {
    return failureOf(readAsync(in));
  }

  private CompletableFuture<byte[]> readAsync(InputStream in) {
    return CompletableFuture.supplyAsync(() -> {
      try {
        return in.readAllBytes();
      } catch (IOException e) {
        throw new CompletionException(e);
      }
    }, readers);
  }

  private FakeAgent agent(Script script) throws IOException {
    FakeAgent a = new FakeAgent(socket, script);
    cleanup.add(a);
    return a;
  }

  static byte[] ascii(String s) {
    return s.getBytes(ISO_8859_1);
  }

  static byte[] concat(byte[]... parts) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    for (byte[] p : parts) {
      out.writeBytes(p);
    }
    return out.toByteArray();
  }

  static byte[] ok(String body, String... headerLines) {
    return response("200 OK", body.getBytes(UTF_8), headerLines);
  }

  static byte[] response(String status, byte[] body, String... headerLines) {
    StringBuilder sb = new StringBuilder("HTTP/1.1 ").append(status).append("\r\n");
    for (String h : headerLines) {
      sb.append(h).append("\r\n");
    }
    sb.append("Content-Length: ").append(body.length).append("\r\n\r\n");
    return concat(ascii(sb.toString()), body);
  }

  static byte[] pattern(int n, int seed) {
    byte[] b = new byte[n];
    for (int i = 0; i < n; i++) {
      b[i] = (byte) (i * 31 + (i >>> 9) + seed * 7);
    }
    return b;
  }

  // ---- the fake agent -------------------------------------------------------------------------------

  /** What the fake agent does with one accepted connection. */
  @FunctionalInterface
  interface Script {
    void serve(AgentConn c) throws Exception;
  }

  /** The raw answer to one request; null when {@code byHand} answers it. */
  @FunctionalInterface
  interface Answer {
    byte[] to(Request r) throws Exception;
  }

  @FunctionalInterface
  interface ByHand {
    void answer(AgentConn c, Request r) throws Exception;
  }

  /** The raw answer scripted for the request's target, else {@code otherwise}. */
  static byte[] byTarget(Request r, Map<String, String> answers, byte[] otherwise) {
    String a = answers.get(r.target());
    return a == null ? otherwise : ascii(a);
  }

  /** Answers every request of a connection, until the client closes it. */
  static Script each(Answer answer) {
    return each(answer, (c, r) -> {
      throw new AssertionError("no answer for " + r.target());
    });
  }

  static Script each(Answer answer, ByHand byHand) {
    return c -> {
      for (Request r; (r = c.read()) != null; ) {
        byte[] a = answer.to(r);
        if (a == null) {
          byHand.answer(c, r);
        } else {
          c.send(a);
        }
      }
    };
  }

  /** A request as the fake agent received it. */
  record Request(int conn, String method, String target, String version, List<Map.Entry<String, String>> headers,
      byte[] body) {
    String header(String name) {
      for (Map.Entry<String, String> h : headers) {
        if (h.getKey().equalsIgnoreCase(name)) {
          return h.getValue();
        }
      }
      return null;
    }

    List<String> headerNames() {
      List<String> names = new ArrayList<>();
      headers.forEach(h -> names.add(h.getKey()));
      return names;
    }
  }

  /** A Unix-socket server running one script per accepted connection, each on its own thread. */
  static final class FakeAgent implements AutoCloseable {
    final ServerSocketChannel server;
    final Script script;
    final AtomicInteger accepted = new AtomicInteger();
    final LinkedBlockingQueue<Request> requests = new LinkedBlockingQueue<>();
    final List<Request> all = new CopyOnWriteArrayList<>();
    /** Released each time a connection's client side was seen closed. */
    final Semaphore eofs = new Semaphore(0);
    /** Released each time a connection's script ended (and the agent closed it). */
    final Semaphore ends = new Semaphore(0);
    final Set<SocketChannel> channels = ConcurrentHashMap.newKeySet();
    final List<Thread> threads = new CopyOnWriteArrayList<>();
    final Queue<Throwable> errors = new ConcurrentLinkedQueue<>();
    final Thread acceptor;

    FakeAgent(Path socket, Script script) throws IOException {
      this.script = script;
      this.server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
      server.bind(UnixDomainSocketAddress.of(socket), 512);
      acceptor = new Thread(this::acceptLoop, "fake-agent-accept");
      acceptor.setDaemon(true);
      acceptor.start();
    }

    private void acceptLoop() {
      try {
        while (true) {
          SocketChannel ch = server.accept();
          int index = accepted.getAndIncrement();
          channels.add(ch);
          Thread t = new Thread(() -> serve(new AgentConn(this, index, ch)), "fake-agent-conn-" + index);
          t.setDaemon(true);
          threads.add(t);
          t.start();
        }
      } catch (IOException e) {
        // closed
      }
    }

    private void serve(AgentConn c) {
      try {
        script.serve(c);
      } catch (IOException | InterruptedException e) {
        // the client went away, or the test ended
      } catch (Throwable e) {
        errors.add(e);
      } finally {
        c.close();
        ends.release();
      }
    }

    /** The next request received, in order of arrival. */
    Request nextRequest() throws InterruptedException {
      Request r = requests.poll(WAIT, SECONDS);
      assertThat(r).as("a request reached the agent").isNotNull();
      return r;
    }

    @Override
    public void close() throws Exception {
      server.close();
      for (SocketChannel ch : channels) {
        ch.close();
      }
      acceptor.join(2_000);
      for (Thread t : threads) {
        t.interrupt();
        t.join(2_000);
      }
      if (!errors.isEmpty()) {
        AssertionError e = new AssertionError("the fake agent's script failed");
        errors.forEach(e::addSuppressed);
        e.printStackTrace();
      }
    }
  }

  /** One connection of the fake agent. */
  static final class AgentConn {
    final FakeAgent agent;
    final int index;
    final SocketChannel channel;
    final InputStream in;
    final OutputStream out;

    AgentConn(FakeAgent agent, int index, SocketChannel channel) {
      this.agent = agent;
      this.index = index;
      this.channel = channel;
      this.in = new BufferedInputStream(Channels.newInputStream(channel), 64 * 1024);
      this.out = Channels.newOutputStream(channel);
    }

    /** The next request, or null when the client closed the connection. */
    Request read() throws IOException {
      String line = line();
      while (line != null && line.isEmpty()) {
        line = line();
      }
      if (line == null) {
        agent.eofs.release();
        return null;
      }
      String[] parts = line.split(" ", 3);
      List<Map.Entry<String, String>> headers = new ArrayList<>();
      for (String h; (h = line()) != null && !h.isEmpty(); ) {
        int colon = h.indexOf(':');
        headers.add(Map.entry(h.substring(0, colon).trim(), h.substring(colon + 1).trim()));
      }
      byte[] body = new byte[0];
      for (Map.Entry<String, String> h : headers) {
        if (h.getKey().toLowerCase(Locale.ROOT).equals("content-length")) {
          int n = Integer.parseInt(h.getValue());
          body = in.readNBytes(n);
          if (body.length < n) {
            throw new EOFException("request body cut short");
          }
        }
      }
      Request r = new Request(index, parts[0], parts[1], parts.length > 2 ? parts[2] : "", List.copyOf(headers), body);
      agent.all.add(r);
      agent.requests.add(r);
      return r;
    }

    private String line() throws IOException {
      ByteArrayOutputStream b = new ByteArrayOutputStream();
      for (int c; (c = in.read()) >= 0; ) {
        if (c == '\n') {
          byte[] a = b.toByteArray();
          int n = a.length > 0 && a[a.length - 1] == '\r' ? a.length - 1 : a.length;
          return new String(a, 0, n, ISO_8859_1);
        }
        b.write(c);
      }
      return null;
    }

    void send(byte[] bytes) throws IOException {
      out.write(bytes);
    }

    /** Waits until the client closes the connection. */
    void awaitEof() throws IOException {
      while (in.read() >= 0) {
        // discard
      }
      agent.eofs.release();
    }

    void close() {
      try {
        channel.close();
      } catch (IOException e) {
        // closing
      }
    }
  }

  // ---- a host's event loop --------------------------------------------------------------------------

  /** A host's loop: the platform's own kind of selector thread, counting registrations. */
  static final class TestEventLoop implements EventLoop, AutoCloseable {
    final SelectorThread loop;
    final Thread thread;
    final AtomicInteger registered = new AtomicInteger();

    TestEventLoop(String name) throws Exception {
      loop = new SelectorThread(name);
      CompletableFuture<Thread> t = new CompletableFuture<>();
      loop.execute(() -> t.complete(Thread.currentThread()));
      thread = t.get(10, SECONDS);
    }

    @Override
    public boolean inLoop() {
      return loop.inLoop();
    }

    @Override
    public void execute(Runnable task) {
      loop.execute(task);
    }

    @Override
    public SelectionKey register(SelectableChannel channel, int ops, Handler handler) throws IOException {
      assertThat(inLoop()).as("register is called on the loop's thread").isTrue();
      registered.incrementAndGet();
      return loop.register(channel, ops, handler);
    }

    @Override
    public void close() {
      loop.close();
    }
  }
}
