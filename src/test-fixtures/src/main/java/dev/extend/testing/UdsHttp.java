package dev.extend.testing;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;

/** A minimal HTTP/1.1 client over a Unix domain socket, for tests that talk to sandbox agents. */
public final class UdsHttp {
  private UdsHttp() {}

  /** A response: status code and body. */
  public record Response(int status, String body) {}

  /** Sends one request ({@code Connection: close}) and reads the whole response. */
  public static Response request(Path socket, String method, String path, String body) throws IOException {
    try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
      ch.connect(UnixDomainSocketAddress.of(socket));
      byte[] payload = body == null ? new byte[0] : body.getBytes(StandardCharsets.UTF_8);
      String head = method + " " + path + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
          + "Content-Type: text/plain\r\nContent-Length: " + payload.length + "\r\n\r\n";
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
    return new Response(status, body);
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
