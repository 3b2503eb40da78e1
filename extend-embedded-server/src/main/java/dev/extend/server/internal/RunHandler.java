package dev.extend.server.internal;

import dev.extend.ContainerName;
import dev.extend.ExtendException;
import dev.extend.Headers;
import dev.extend.InvocationRequest;
import dev.extend.InvocationResponse;
import dev.extend.PayloadTooLargeException;
import dev.extend.ServerlessPlatform;
import dev.extend.spi.Router;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.util.Locale;
import java.util.Set;
import org.eclipse.jetty.http.HttpField;
import org.eclipse.jetty.http.HttpFields;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Blocker;
import org.eclipse.jetty.util.Callback;

/**
 * Runs a webhook for an HTTP request: the request is passed on (hop-by-hop headers dropped, the
 * body streamed and capped) and the webhook's answer streamed back.
 *
 * <p>The thread Jetty gives the request does the whole exchange: it waits for the response
 * headers and copies the body. The body is a blocking stream fed by the sandbox connection, so
 * it must not be read on the thread completing the invocation; staying on the request's
 * thread costs no extra hand-off.
 */
public final class RunHandler {
  /** Largest body sent in one write together with the headers. */
  private static final int SINGLE_WRITE_MAX = 64 * 1024;
  private static final int CHUNK = 16 * 1024;

  private final ServerlessPlatform platform;
  private final Auth auth;
  private final boolean requireToken;
  private final long maxBody;

  /**
   * Creates the handler.
   *
   * @param platform runs webhooks
   * @param auth checks tokens when {@code requireToken}
   * @param requireToken whether callers need a token for the webhook's container
   */
  public RunHandler(ServerlessPlatform platform, Auth auth, boolean requireToken) {
    this.platform = platform;
    this.auth = auth;
    this.requireToken = requireToken;
    this.maxBody = platform.maxRequestBodyBytes();
  }

  /** Serves one routed request; always completes {@code callback}. */
  public void handle(Request request, Response response, Callback callback, Router.Route route) {
    CappedInputStream capped = null;
    InvocationResponse answer = null;
    try {
      ContainerName container = route.webhook().container();
      if (requireToken) {
        auth.authenticateRun(request).requireContainer(container);
      }
      InvocationRequest.Builder ir = InvocationRequest.builder()
          .method(request.getMethod())
          .path(route.rest())
          .query(request.getHttpURI().getQuery());
      copyRequestHeaders(request, ir);

      long length = request.getLength();
      if (length > maxBody) {
        throw tooLarge();
      }
      if (length > 0 || (length < 0 && request.getHeaders().contains(HttpHeader.TRANSFER_ENCODING))) {
        capped = new CappedInputStream(Request.asInputStream(request), maxBody);
        ir.body(capped, length);
      }

      answer = platform.invoke(route.webhook(), ir.build());
      copyResponse(answer, response, callback, "HEAD".equals(request.getMethod()));
      answer = null; // handed over
    } catch (Throwable t) {
      if (answer != null) {
        answer.close();
      }
      if (capped != null && capped.exceeded()) {
        Errors.send(response, callback, tooLarge());
      } else {
        Errors.send(response, callback, t);
      }
    }
  }

  private PayloadTooLargeException tooLarge() {
    return new PayloadTooLargeException("request body exceeds the limit of " + maxBody + " bytes");
  }

  private void copyRequestHeaders(Request request, InvocationRequest.Builder ir) {
    HttpFields fields = request.getHeaders();
    Set<String> connectionListed = connectionTokens(fields);
    String forwardedFor = null;
    boolean hasProto = false;
    for (HttpField f : fields) {
      HttpHeader h = f.getHeader();
      if (h != null) {
        switch (h) {
          case CONNECTION, KEEP_ALIVE, TE, TRAILER, TRANSFER_ENCODING, UPGRADE, HOST,
              PROXY_AUTHORIZATION, PROXY_AUTHENTICATE, PROXY_CONNECTION -> {
            continue;
          }
          case AUTHORIZATION -> {
            // With tokens required on /run, the token is the platform's, not the webhook's.
            if (requireToken) {
              continue;
            }
          }
          case X_FORWARDED_FOR -> {
            forwardedFor = f.getValue();
            continue;
          }
          case X_FORWARDED_PROTO -> hasProto = true;
          default -> {
          }
        }
      } else if (f.getName().regionMatches(true, 0, "proxy-", 0, 6)) {
        continue;
      }
      if (connectionListed != null && connectionListed.contains(f.getLowerCaseName())) {
        continue;
      }
      ir.header(f.getName(), f.getValue());
    }
    String remote = Request.getRemoteAddr(request);
    ir.header("x-forwarded-for", forwardedFor == null ? remote : forwardedFor + ", " + remote);
    if (!hasProto) {
      ir.header("x-forwarded-proto", request.getHttpURI().getScheme());
    }
    String host = fields.get(HttpHeader.HOST);
    if (host != null && !fields.contains(HttpHeader.X_FORWARDED_HOST)) {
      ir.header("x-forwarded-host", host);
    }
  }

  /** Header names listed in Connection (beyond close/keep-alive): hop-by-hop too. */
  private static Set<String> connectionTokens(HttpFields fields) {
    String connection = fields.get(HttpHeader.CONNECTION);
    if (connection == null) {
      return null;
    }
    java.util.HashSet<String> names = null;
    for (String token : connection.split(",")) {
      String t = token.trim().toLowerCase(Locale.ROOT);
      if (!t.isEmpty() && !t.equals("close") && !t.equals("keep-alive")) {
        if (names == null) {
          names = new java.util.HashSet<>();
        }
        names.add(t);
      }
    }
    return names;
  }

  static boolean hopByHop(String lowerName) {
    switch (lowerName) {
      case "connection", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade", "host",
          "date", "server" -> {
        // date and server: Jetty writes its own.
        return true;
      }
      default -> {
        return lowerName.startsWith("proxy-");
      }
    }
  }

  private static void copyResponse(InvocationResponse answer, Response response, Callback callback,
      boolean head) throws IOException {
    response.setStatus(answer.status());
    HttpFields.Mutable out = response.getHeaders();
    Headers headers = answer.headers();
    Set<String> connectionListed = null;
    String connection = headers.first("connection");
    if (connection != null) {
      connectionListed = connectionTokens(HttpFields.build().add(HttpHeader.CONNECTION, connection));
    }
    for (java.util.Map.Entry<String, java.util.List<String>> e : headers.asMap().entrySet()) {
      String name = e.getKey();
      if (hopByHop(name) || (connectionListed != null && connectionListed.contains(name))) {
        continue;
      }
      for (String v : e.getValue()) {
        out.add(name, v);
      }
    }

    int status = answer.status();
    if (head || status == 204 || status == 304 || (status >= 100 && status < 200)) {
      // No body by definition, whatever Content-Length says.
      answer.close();
      response.write(true, null, callback);
      return;
    }
    InputStream in = answer.body();
    long length = parseLength(headers.first("content-length"));
    if (length >= 0 && length <= SINGLE_WRITE_MAX) {
      // Common case: one write carries headers and the whole body; no chunked encoding.
      byte[] body = in.readNBytes((int) length);
      answer.close();
      if (body.length != length) {
        throw ExtendException.internal("the webhook's response ended after " + body.length
            + " of " + length + " bytes", null);
      }
      response.write(true, ByteBuffer.wrap(body), callback);
      return;
    }
    try {
      byte[] buf = new byte[CHUNK];
      int n;
      while ((n = in.read(buf)) >= 0) {
        if (n == 0) {
          continue;
        }
        try (Blocker.Callback blocker = Blocker.callback()) {
          response.write(false, ByteBuffer.wrap(buf, 0, n), blocker);
          blocker.block();
        }
      }
    } finally {
      answer.close();
    }
    response.write(true, null, callback);
  }

  private static long parseLength(String value) {
    if (value == null) {
      return -1;
    }
    try {
      return Long.parseLong(value.trim());
    } catch (NumberFormatException e) {
      return -1;
    }
  }
}
