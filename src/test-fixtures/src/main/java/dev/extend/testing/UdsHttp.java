package dev.extend.testing;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.net.SocketTimeoutException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/** A minimal HTTP/1.1 client over a Unix domain socket, for tests that talk to sandbox agents. */
public final class UdsHttp {
  private UdsHttp() {}

  /** Closes the channels of requests that outlive their deadline. */
  private static final ScheduledExecutorService DEADLINES = Executors.newSingleThreadScheduledExecutor(r -> {
    Thread t = new Thread(r, "uds-http-deadlines");
    t.setDaemon(true);
    return t;
  });

  /**
   * A response: status code, headers (names in lower case, the last value of each) and body.
   *
   * @param status the status code
   * @param body the body, de-chunked
   * @param headers the headers by lower-case name
   */
  public record Response(int status, String body, Map<String, String> headers) {
    /** A response without headers. */
    public Response(int status, String body) {
      this(status, body, Map.of());
    }

    /** A header's value by any case of its name, or null. */
    public String header(String name) {
      return headers.get(name.toLowerCase(Locale.ROOT));
    }
  }

  /** Sends one request ({@code Connection: close}) and reads the whole response. */
  public static Response request(Path socket, String method, String path, String body) throws IOException {
    return request(socket, method, path, "text/plain", body, null);
  }

  /**
   * Sends one request ({@code Connection: close}) with the given content type and reads the
   * whole response, failing with a {@link SocketTimeoutException} when it has not ended
   * within {@code deadline} (null: no deadline).
   */
  public static Response request(Path socket, String method, String path, String contentType, String body,
      Duration deadline) throws IOException {
    try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
      AtomicBoolean expired = new AtomicBoolean();
      ScheduledFuture<?> watchdog = deadline == null ? null : DEADLINES.schedule(() -> {
        expired.set(true);
        try {
          ch.close();
        } catch (IOException ignored) {
          // closing is all there is to do
        }
      }, deadline.toMillis(), TimeUnit.MILLISECONDS);
      try {
        ch.connect(UnixDomainSocketAddress.of(socket));
        byte[] payload = body == null ? new byte[0] : body.getBytes(StandardCharsets.UTF_8);
        String head = method + " " + path + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
            + "Content-Type: " + contentType + "\r\nContent-Length: " + payload.length + "\r\n\r\n";
        ch.write(ByteBuffer.wrap(head.getBytes(StandardCharsets.US_ASCII)));
        ch.write(ByteBuffer.wrap(payload));
        ByteArrayOutputStream all = new ByteArrayOutputStream();
        ByteBuffer buf = ByteBuffer.allocate(16 * 1024);
        while (ch.read(buf) >= 0) {
          buf.flip();
          all.write(buf.array(), 0, buf.limit());
          buf.clear();
        }
        return parse(all.toString(StandardCharsets.UTF_8));
      } catch (IOException e) {
        if (expired.get()) {
          SocketTimeoutException t = new SocketTimeoutException(method + " " + path + ": no whole answer within " + deadline);
          t.initCause(e);
          throw t;
        }
        throw e;
      } finally {
        if (watchdog != null) {
          watchdog.cancel(false);
        }
      }
    }
  }

  /** GET {@code path}. */
  public static Response get(Path socket, String path) throws IOException {
    return request(socket, "GET", path, null);
  }

  /**
   * Polls {@code GET path} until it answers 200 or {@code timeout} passes.
   *
   * @return true when it answered 200
   */
  public static boolean awaitOk(Path socket, String path, Duration timeout) throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (System.nanoTime() < deadline) {
      try {
        if (get(socket, path).status() == 200) {
          return true;
        }
      } catch (IOException notYet) {
        // not listening yet
      }
      Thread.sleep(10);
    }
    return false;
  }

  private static Response parse(String raw) throws IOException {
    int end = raw.indexOf("\r\n\r\n");
    if (!raw.startsWith("HTTP/1.") || end < 0) {
      throw new IOException("not an HTTP response: " + raw.substring(0, Math.min(200, raw.length())));
    }
    int status = Integer.parseInt(raw.substring(9, 12));
    String headers = raw.substring(0, end).toLowerCase(java.util.Locale.ROOT);
    String body = raw.substring(end + 4);
    if (headers.contains("transfer-encoding: chunked")) {
      body = dechunk(body);
    }
    Map<String, String> fields = new HashMap<>();
    String[] lines = raw.substring(0, end).split("\r\n");
    for (int i = 1; i < lines.length; i++) {
      int colon = lines[i].indexOf(':');
      if (colon > 0) {
        fields.put(lines[i].substring(0, colon).trim().toLowerCase(Locale.ROOT), lines[i].substring(colon + 1).trim());
      }
    }
    return new Response(status, body, Map.copyOf(fields));
  }

  private static String dechunk(String s) {
    StringBuilder out = new StringBuilder();
    int i = 0;
    while (i < s.length()) {
      int eol = s.indexOf("\r\n", i);
      if (eol < 0) {
        break;
      }
      int len = Integer.parseInt(s.substring(i, eol).trim().split(";")[0], 16);
      if (len == 0) {
        break;
      }
      out.append(s, eol + 2, eol + 2 + len);
      i = eol + 2 + len + 2;
    }
    return out.toString();
  }
}
