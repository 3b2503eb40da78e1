package dev.extend.bench;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** The bench client's response framing: Content-Length, chunked, bodiless statuses, partial input. */
class HttpParseTest {
  static byte[] b(String s) {
    return s.getBytes(StandardCharsets.ISO_8859_1);
  }

  @Test
  void contentLengthFramesTheBody() {
    byte[] r = b("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nCONTENT-LENGTH: 11\r\n\r\nhello world");
    assertThat(HttpLoad.Http.complete(r, r.length)).isEqualTo(r.length);
    assertThat(HttpLoad.Http.complete(r, r.length - 1)).isEqualTo(-1);
    assertThat(HttpLoad.Http.complete(r, 20)).isEqualTo(-1);
    assertThat(HttpLoad.Http.status(r)).isEqualTo(200);
    assertThat(HttpLoad.Http.closes(r, r.length)).isFalse();
  }

  @Test
  void chunkedBodyEndsWithTheLastChunk() {
    byte[] r = b("HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        + "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n");
    assertThat(HttpLoad.Http.complete(r, r.length)).isEqualTo(r.length);
    for (int cut = 1; cut < 16; cut++) {
      assertThat(HttpLoad.Http.complete(r, r.length - cut)).as("cut %d", cut).isEqualTo(-1);
    }
    assertThat(HttpLoad.Http.status(r)).isEqualTo(201);
    assertThat(HttpLoad.Http.closes(r, r.length)).isTrue();
  }

  @Test
  void noContentHasNoBody() {
    byte[] r = b("HTTP/1.1 204 No Content\r\nDate: x\r\n\r\n");
    assertThat(HttpLoad.Http.complete(r, r.length)).isEqualTo(r.length);
  }

  @Test
  void requestIsEncodedOnceWithHeaders() {
    String req = new String(HttpLoad.encode("/a?b=1", "localhost", "x-k", "v"), StandardCharsets.US_ASCII);
    assertThat(req).isEqualTo("GET /a?b=1 HTTP/1.1\r\nHost: localhost\r\nx-k: v\r\n\r\n");
  }
}
