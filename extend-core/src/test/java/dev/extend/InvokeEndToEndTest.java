package dev.extend;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Creates and invokes webhooks of every programming model through platform.invoke, with real Node. */
class InvokeEndToEndTest {
  @TempDir static Path data;
  static ServerlessPlatform platform;

  @BeforeAll
  static void start() throws Exception {
    platform = PlatformTestSupport.builder(data).build();
    platform.pool().awaitWarm(Duration.ofSeconds(20));
  }

  @AfterAll
  static void stop() {
    platform.close();
  }

  private static InvocationResponse put(String container, String name, String code, InvocationRequest req) {
    WebhookRef ref = WebhookRef.of(container, name);
    platform.put(ref, WebhookSpec.builder(code).secret("API_KEY", "s3cret").meta("plan", "gold").build());
    return platform.invoke(ref, req);
  }

  @Test
  void asyncFunctionReturningObjectAnswersJson() {
    try (InvocationResponse r = put("acme", "hello", "module.exports = async (ctx) => ({hi: ctx.body.name})",
        InvocationRequest.json("{\"name\":\"Ada\"}"))) {
      assertThat(r.status()).isEqualTo(200);
      assertThat(r.headers().first("content-type")).startsWith("application/json");
      assertThat(r.bodyText()).isEqualTo("{\"hi\":\"Ada\"}");
    }
  }

  @Test
  void callbackOnlyModel() {
    try (InvocationResponse r = put("acme", "cb", "module.exports = function (cb) { cb(null, 'plain text'); }",
        InvocationRequest.get())) {
      assertThat(r.status()).isEqualTo(200);
      assertThat(r.headers().first("content-type")).startsWith("text/plain");
      assertThat(r.bodyText()).isEqualTo("plain text");
    }
  }

  @Test
  void contextAndCallbackModelSeesSecretsMetaQueryAndHeaders() {
    String code = "module.exports = function (ctx, cb) { cb(null, {secret: ctx.secrets.API_KEY, plan: ctx.meta.plan,"
        + " q: ctx.query, h: ctx.headers['x-tenant'], m: ctx.method, p: ctx.path, w: ctx.webhook.name}); }";
    InvocationRequest req = InvocationRequest.builder().method("PUT").path("/a/b").query("x=1&x=2&y=z")
        .header("X-Tenant", "t1").build();
    try (InvocationResponse r = put("beta", "ctx-cb", code, req)) {
      assertThat(r.status()).isEqualTo(200);
      assertThat(r.bodyText()).isEqualTo("{\"secret\":\"s3cret\",\"plan\":\"gold\",\"q\":{\"x\":[\"1\",\"2\"],\"y\":\"z\"},"
          + "\"h\":\"t1\",\"m\":\"PUT\",\"p\":\"/a/b\",\"w\":\"ctx-cb\"}");
    }
  }

  @Test
  void fullControlModelStreamsRequestAndResponse() {
    String code = "module.exports = function (ctx, req, res) {"
        + " let n = 0; req.on('data', c => n += c.length); req.on('end', () => {"
        + " res.writeHead(201, {'content-type': 'text/plain', 'x-seen': String(n)}); res.write('got ');"
        + " setTimeout(() => res.end(n + ' bytes at ' + req.url), 10); }); }";
    byte[] body = new byte[300_000];
    InvocationRequest req = InvocationRequest.builder().path("/upload").query("k=v").body(body).build();
    try (InvocationResponse r = put("beta", "raw", code, req)) {
      assertThat(r.status()).isEqualTo(201);
      assertThat(r.headers().first("x-seen")).isEqualTo("300000");
      assertThat(r.bodyText()).isEqualTo("got 300000 bytes at /upload?k=v");
    }
  }

  @Test
  void formBodyIsParsed() {
    InvocationRequest req = InvocationRequest.builder().header("content-type", "application/x-www-form-urlencoded")
        .body("a=1&b=two").build();
    try (InvocationResponse r = put("acme", "form", "module.exports = async (ctx) => ctx.body", req)) {
      assertThat(r.bodyText()).isEqualTo("{\"a\":\"1\",\"b\":\"two\"}");
    }
  }

  @Test
  void thrownErrorAnswersFunctionError() {
    assertThatThrownBy(() -> put("acme", "throws", "module.exports = async () => { throw new TypeError('bad input'); }",
        InvocationRequest.get()))
        .isInstanceOfSatisfying(FunctionErrorException.class, e -> {
          assertThat(e.status()).isEqualTo(502);
          assertThat(e.errorName()).isEqualTo("TypeError");
          assertThat(e.getMessage()).isEqualTo("bad input");
        });
    // the agent survived: the same container still answers
    try (InvocationResponse r = put("acme", "after-throw", "module.exports = (cb) => cb(null, 'ok')", InvocationRequest.get())) {
      assertThat(r.bodyText()).isEqualTo("ok");
    }
  }

  @Test
  void callbackErrorAndRejectionAnswerFunctionError() {
    assertThatThrownBy(() -> put("gamma", "cb-err", "module.exports = function (ctx, cb) { cb(new Error('nope')); }",
        InvocationRequest.get())).isInstanceOf(FunctionErrorException.class).hasMessage("nope");
    assertThatThrownBy(() -> put("gamma", "rejects", "module.exports = async () => Promise.reject(new RangeError('r'))",
        InvocationRequest.get())).isInstanceOf(FunctionErrorException.class).hasMessage("r");
  }

  /** A one-parameter function that is not async answers with what it returns, not with a 504 at the timeout. */
  @Test
  void oneParameterFunctionAnswersWithItsReturnValue() {
    try (InvocationResponse r = put("epsilon", "arrow", "module.exports = (ctx) => ({ hi: ctx.body.name })",
        InvocationRequest.json("{\"name\":\"Ada\"}"))) {
      assertThat(r.status()).isEqualTo(200);
      assertThat(r.bodyText()).isEqualTo("{\"hi\":\"Ada\"}");
    }
    try (InvocationResponse r = put("epsilon", "function", "module.exports = function (ctx) { return { q: ctx.query.x }; }",
        InvocationRequest.builder().query("x=1").build())) {
      assertThat(r.bodyText()).isEqualTo("{\"q\":\"1\"}");
    }
  }

  /** No callback to wait for and nothing returned: an empty 204 at once, not a wait for the timeout. */
  @Test
  void functionThatCannotAnswerOtherwiseAnswersEmptyAtOnce() {
    WebhookRef ref = WebhookRef.of("epsilon", "void");
    // waiting for a callback would end in a 504 at the timeout
    platform.put(ref, WebhookSpec.builder("module.exports = ({ body }) => { console.log('did it', body); }")
        .timeout(Duration.ofSeconds(5)).build());
    try (InvocationResponse r = platform.invoke(ref, InvocationRequest.json("{}"))) {
      assertThat(r.status()).isEqualTo(204);
    }
  }

  @Test
  void syntaxErrorIsReportedAsLoadFailure() {
    assertThatThrownBy(() -> put("gamma", "broken", "module.exports = async (ctx => {", InvocationRequest.get()))
        .isInstanceOf(FunctionErrorException.class).hasMessageContaining("failed to load").hasMessageContaining("SyntaxError");
  }

  @Test
  void updateIsServedAtOnce() {
    WebhookRef ref = WebhookRef.of("delta", "versioned");
    platform.put(ref, WebhookSpec.builder("module.exports = async () => 'v1'").build());
    try (InvocationResponse r = platform.invoke(ref, InvocationRequest.get())) {
      assertThat(r.bodyText()).isEqualTo("v1");
    }
    PutResult updated = platform.put(ref, WebhookSpec.builder("module.exports = async () => 'v2'").build(), 1);
    assertThat(updated.webhook().version()).isEqualTo(2);
    try (InvocationResponse r = platform.invoke(ref, InvocationRequest.get())) {
      assertThat(r.bodyText()).isEqualTo("v2");
      assertThat(r.cold()).isFalse();
    }
    assertThatThrownBy(() -> platform.put(ref, WebhookSpec.builder("module.exports = 1").build(), 1))
        .isInstanceOf(VersionMismatchException.class);
  }

  @Test
  void missingWebhookIsNotFound() {
    assertThatThrownBy(() -> platform.invoke(WebhookRef.of("acme", "nope"), InvocationRequest.get()))
        .isInstanceOf(NotFoundException.class);
  }

  @Test
  void timeoutAnswers504AndRecyclesTheSandbox() {
    WebhookRef ref = WebhookRef.of("slow", "spin");
    platform.put(ref, WebhookSpec.builder("module.exports = async (ctx) => { if (ctx.query.spin) { for (;;) {} } return 'fine'; }")
        .limits(new Limits(Duration.ofMillis(500), 128)).build());
    try (InvocationResponse r = platform.invoke(ref, InvocationRequest.get())) {
      assertThat(r.bodyText()).isEqualTo("fine");
    }
    assertThatThrownBy(() -> platform.invoke(ref, InvocationRequest.builder().query("spin=1").build()))
        .isInstanceOf(FunctionTimeoutException.class);
    try (InvocationResponse r = platform.invoke(ref, InvocationRequest.get())) {
      assertThat(r.bodyText()).isEqualTo("fine");
      assertThat(r.cold()).isTrue();
    }
  }

  @Test
  void processExitIsContainedAndReplaced() {
    WebhookRef ref = WebhookRef.of("crashy", "exit");
    platform.put(ref, WebhookSpec.builder("module.exports = async (ctx) => { if (ctx.query.die) process.exit(3); return 'alive'; }").build());
    try (InvocationResponse r = platform.invoke(ref, InvocationRequest.get())) {
      assertThat(r.bodyText()).isEqualTo("alive");
    }
    assertThatThrownBy(() -> platform.invoke(ref, InvocationRequest.builder().query("die=1").build()))
        .isInstanceOf(FunctionErrorException.class).hasMessageContaining("ended");
    try (InvocationResponse r = platform.invoke(ref, InvocationRequest.get())) {
      assertThat(r.bodyText()).isEqualTo("alive");
    }
  }

  @Test
  void aFailingRequestBodyFailsOnlyThatRequest() {
    WebhookRef ref = WebhookRef.of("uploads", "sink");
    platform.put(ref, WebhookSpec.builder("module.exports = function (ctx, req, res) {"
        + " req.on('data', () => {}); req.on('end', () => res.end('pid ' + process.pid)); }").build());
    String before = platform.invoke(ref, InvocationRequest.get()).bodyText();
    java.io.InputStream failing = new java.io.InputStream() {
      int n;

      @Override
      public int read() throws java.io.IOException {
        if (n++ > 100_000) {
          throw new PayloadTooLargeException("body: exceeds the cap");
        }
        return 'x';
      }
    };
    assertThatThrownBy(() -> platform.invoke(ref, InvocationRequest.builder().body(failing, -1).build()))
        .isInstanceOf(PayloadTooLargeException.class);
    // the same sandbox keeps serving
    try (InvocationResponse r = platform.invoke(ref, InvocationRequest.get())) {
      assertThat(r.bodyText()).isEqualTo(before);
      assertThat(r.cold()).isFalse();
    }
  }

  @Test
  void malformedHeadersFromTheHostAreNotForwarded() {
    InvocationRequest req = InvocationRequest.builder()
        .header("x-ok", "fine")
        .header("x-split", "a\r\nx-injected: yes")
        .header("bad name", "v")
        .build();
    try (InvocationResponse r = put("acme", "headers", "module.exports = async (ctx) => ctx.headers", req)) {
      String body = r.bodyText();
      assertThat(body).contains("\"x-ok\":\"fine\"").doesNotContain("x-injected").doesNotContain("bad name")
          .doesNotContain("x-split");
    }
  }
}
