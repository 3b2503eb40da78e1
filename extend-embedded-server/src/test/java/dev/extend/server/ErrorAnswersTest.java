package dev.extend.server;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.extend.ContainerName;
import dev.extend.Page;
import dev.extend.UnavailableException;
import dev.extend.WebhookRef;
import dev.extend.server.internal.JsonErrorHandler;
import dev.extend.spi.FunctionStore;
import dev.extend.spi.WebhookRecord;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.eclipse.jetty.http.HttpTester;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.LocalConnector;
import org.eclipse.jetty.server.Server;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Error answers carry no host paths, sandbox ids or Java exception text: a platform fault is
 * answered with a fixed message and a reference, and the server log shows the reference next to
 * the real cause.
 */
class ErrorAnswersTest {
  private static final Pattern REFERENCE = Pattern.compile("reference ([0-9a-f]{12})");
  private static final Pattern SANDBOX_ID = Pattern.compile("\\bs[0-9a-f]{24}\\b");
  private static TestServer t;

  /** A store that fails for two containers: with a bug, and with an outage naming its database. */
  static final class FailingStore implements FunctionStore {
    final FunctionStore delegate = FunctionStore.inMemory();

    private static void fail(ContainerName c) {
      if (c.value().equals("buggy")) {
        throw new IllegalStateException("cannot open /var/lib/extend/data/webhooks.db: java.io.IOException: EACCES");
      }
      if (c.value().equals("outage")) {
        throw new UnavailableException("database db.internal:3306 refused (socket /run/mysqld/mysqld.sock)");
      }
    }

    @Override
    public Optional<WebhookRecord> get(WebhookRef ref) {
      fail(ref.container());
      return delegate.get(ref);
    }

    @Override
    public OptionalLong version(WebhookRef ref) {
      return delegate.version(ref);
    }

    @Override
    public WebhookRecord put(WebhookRecord record, OptionalLong expectedVersion) {
      return delegate.put(record, expectedVersion);
    }

    @Override
    public boolean delete(WebhookRef ref, OptionalLong expectedVersion) {
      return delegate.delete(ref, expectedVersion);
    }

    @Override
    public Page<WebhookRecord> list(ContainerName container, int limit, String cursor) {
      fail(container);
      return delegate.list(container, limit, cursor);
    }
  }

  @BeforeAll
  static void start() throws IOException {
    t = TestServer.start(p -> p.functionStore(new FailingStore()), s -> {});
  }

  @AfterAll
  static void stop() throws IOException {
    t.close();
  }

  /** Runs {@code action} with the server log captured; returns what it logged. */
  private static String logged(Runnable action) {
    PrintStream err = System.err;
    ByteArrayOutputStream captured = new ByteArrayOutputStream();
    System.setErr(new PrintStream(captured, true, StandardCharsets.UTF_8));
    try {
      action.run();
    } finally {
      System.setErr(err);
    }
    return captured.toString(StandardCharsets.UTF_8);
  }

  private static void assertClean(String body) {
    assertThat(body).doesNotContain("/var/").doesNotContain("/run/").doesNotContain("/tmp/")
        .doesNotContain("Exception").doesNotContain("java.").doesNotContain("db.internal");
    assertThat(SANDBOX_ID.matcher(body).find()).as(body).isFalse();
  }

  private static String reference(String body) {
    Matcher m = REFERENCE.matcher(body);
    assertThat(m.find()).as("a reference in " + body).isTrue();
    return m.group(1);
  }

  @Test
  void aBugIsAnswered500WithAReferenceTheLogShowsNextToTheCause() {
    HttpTester.Response[] r = new HttpTester.Response[1];
    String log = logged(() -> r[0] = t.admin("GET", "/api/v1/containers/buggy/webhooks", null));
    assertThat(r[0].getStatus()).isEqualTo(500);
    JsonNode error = ManagementApiTest.json(r[0]).path("error");
    assertThat(error.path("code").asText()).isEqualTo("internal_error");
    assertClean(r[0].getContent());
    String ref = reference(error.path("message").asText());
    assertThat(log).contains(ref).contains("/var/lib/extend/data/webhooks.db");
  }

  @Test
  void anOutageIsAnswered503WithoutItsDetails() {
    HttpTester.Response[] r = new HttpTester.Response[1];
    String log = logged(() -> r[0] = t.admin("GET", "/api/v1/containers/outage/webhooks", null));
    assertThat(r[0].getStatus()).isEqualTo(503);
    assertThat(r[0].get("Retry-After")).isEqualTo("1");
    assertClean(r[0].getContent());
    String ref = reference(r[0].getContent());
    assertThat(log).contains(ref).contains("db.internal:3306");
  }

  @Test
  void aWebhookThatContradictsItsOwnContentLengthStillGetsACleanAnswer() {
    // raw responses whose Content-Length (2) is not what they send (40 bytes)
    t.put("liar-chunked", "hook", "module.exports = (ctx, req, res) => { res.setHeader('content-length', '2');"
        + " res.setHeader('transfer-encoding', 'chunked'); res.write('x'.repeat(20)); res.end('y'.repeat(20)); }");
    t.put("liar-long", "hook", "module.exports = (ctx, req, res) => { res.writeHead(200, {'content-length': '2'});"
        + " res.end('z'.repeat(40)); }");
    for (String container : new String[] {"liar-chunked", "liar-long"}) {
      HttpTester.Response r = t.send(TestServer.request("GET", "/run/" + container + "/hook"));
      assertClean(r.getContent());
      assertThat(r.getContent()).doesNotContain("written").doesNotContain("content-length");
      assertThat(r.getStatus()).as(r.getContent()).isIn(200, 502);
      if (r.getStatus() == 200 && r.get("Content-Length") != null) {
        // what was sent agrees with what the answer says (or it is chunked and says nothing)
        assertThat(r.getContent().length()).isEqualTo(Integer.parseInt(r.get("Content-Length")));
      }
    }
  }

  @Test
  void aSandboxThatEndsMidCallIsAnswered502WithoutItsIdOrExitDetails() {
    t.put("crash", "hook", "module.exports = async () => { process.exit(3); }");
    HttpTester.Response[] r = new HttpTester.Response[1];
    String log = logged(() -> r[0] = t.send(TestServer.request("GET", "/run/crash/hook")));
    assertThat(r[0].getStatus()).as(r[0].getContent()).isEqualTo(502);
    assertClean(r[0].getContent());
    String ref = reference(r[0].getContent());
    assertThat(log).contains(ref);
  }

  @Test
  void jettysOwnServerErrorsNeverQuoteTheException() throws Exception {
    Server server = new Server();
    LocalConnector local = new LocalConnector(server);
    server.addConnector(local);
    server.setHandler(new Handler.Abstract() {
      @Override
      public boolean handle(org.eclipse.jetty.server.Request request, org.eclipse.jetty.server.Response response,
          org.eclipse.jetty.util.Callback callback) {
        callback.failed(new IOException("written 40 > 2 content-length of /var/lib/extend/sandboxes/s0123"));
        return true;
      }
    });
    server.setErrorHandler(new JsonErrorHandler());
    server.start();
    try {
      HttpTester.Response r = HttpTester.parseResponse(local.getResponse(
          "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"));
      assertThat(r.getStatus()).isEqualTo(500);
      assertClean(r.getContent());
      assertThat(r.getContent()).doesNotContain("written").contains("\"internal_error\"");
      reference(r.getContent());
    } finally {
      server.stop();
    }
  }
}
