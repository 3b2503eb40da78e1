package dev.extend.server.internal;

import dev.extend.ContainerName;
import dev.extend.ExtendException;
import dev.extend.Headers;
import dev.extend.InvocationRequest;
import dev.extend.InvocationResponse;
import dev.extend.PayloadTooLargeException;
import dev.extend.ServerlessPlatform;
import dev.extend.ValidationException;
import dev.extend.spi.Router;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.util.Locale;
import java.util.Set;
import org.eclipse.jetty.http.HttpField;
import org.eclipse.jetty.http.HttpFields;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Blocker;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.Promise;
import org.eclipse.jetty.util.thread.Invocable.InvocationType;

/**
 * Runs a webhook for an HTTP request: the request is passed on (hop-by-hop headers dropped, the
 * body streamed and capped) and the webhook's answer streamed back.
 *
 * <p>Two ways through. The common request (no token to look up, a body of at most
 * {@link #INLINE_BODY_MAX} bytes) never blocks: its body is collected as Jetty delivers it, the
 * invocation is asynchronous, and a short answer is written from the thread that received it,
 * so a warm call runs on Jetty's selector and the platform's agent loop only, with no thread
 * hand-off. Anything else (a token to check, a longer or chunked body, an answer that streams)
 * moves to the run threads, where blocking streams are read and written; nothing else uses
 * those, so however many of them slow clients hold, Jetty and the management API go on.
 */
public final class RunHandler {
  /** Largest request body collected in memory before invoking (larger ones stream). */
  static final int INLINE_BODY_MAX = 64 * 1024;
  /** Largest body sent in one write together with the headers. */
  private static final int SINGLE_WRITE_MAX = 64 * 1024;
  private static final int CHUNK = 16 * 1024;

  private final ServerlessPlatform platform;
  private final Auth auth;
  private final boolean requireToken;
  private final long maxBody;
  private final java.util.concurrent.Executor blocking;
  private final java.util.function.Predicate<java.net.InetAddress> trustedProxy;

  /**
   * Creates the handler.
   *
   * @param platform runs webhooks
   * @param auth checks tokens when {@code requireToken}
   * @param requireToken whether callers need a token for the webhook's container
   * @param blocking runs the calls that block (only run calls use it)
   * @param trustedProxy the addresses whose forwarding headers are believed, or null for none
   */
  public RunHandler(ServerlessPlatform platform, Auth auth, boolean requireToken,
      java.util.concurrent.Executor blocking, java.util.function.Predicate<java.net.InetAddress> trustedProxy) {
    this.blocking = blocking;
    this.trustedProxy = trustedProxy;
    this.platform = platform;
    this.auth = auth;
    this.requireToken = requireToken;
    this.maxBody = platform.maxRequestBodyBytes();
  }

  /**
   * Serves one routed request; always completes {@code callback}. Never blocks: it may be
   * called on a selector thread.
   */
  public void handle(Request request, Response response, Callback callback, Router.Route route,
      SharedOrigin.Policy policy) {
    long length = request.getLength();
    boolean chunked = length < 0 && request.getHeaders().contains(HttpHeader.TRANSFER_ENCODING);
    if (requireToken || chunked || length > INLINE_BODY_MAX) {
      blocking.execute(() -> handleBlocking(request, response, callback, route, policy));
      return;
    }
    InvocationRequest.Builder ir;
    try {
      ir = invocation(request, route);
    } catch (Throwable t) {
      Errors.send(response, callback, t);
      return;
    }
    if (length <= 0) {
      invokeAsync(request, response, callback, route, ir.build(), policy);
      return;
    }
    Content.Source.asByteArrayAsync(request, (int) length, Promise.Invocable.from(InvocationType.NON_BLOCKING,
        (byte[] body, Throwable failure) -> {
          if (failure != null) {
            ExtendException slow = RequestBodyGuard.failure(request);
            Errors.send(response, callback, slow != null ? slow
                : new ValidationException("body", "the request body ended before its Content-Length"));
          } else {
            invokeAsync(request, response, callback, route, ir.body(body).build(), policy);
          }
        }));
  }

  private void invokeAsync(Request request, Response response, Callback callback, Router.Route route,
      InvocationRequest invocation, SharedOrigin.Policy policy) {
    boolean head = "HEAD".equals(request.getMethod());
    java.util.concurrent.CompletableFuture<InvocationResponse> call =
        platform.invokeAsync(route.webhook(), invocation, Runnable::run);
    // While the webhook works the connection is quiet: that is no idle client, the webhook's own
    // timeout bounds the call. A failure Jetty does see (the connection broke) cancels the
    // invocation, so the call to the sandbox ends and its in-flight place is freed at once.
    request.addIdleTimeoutListener(timeout -> call.isDone());
    request.addFailureListener(failure -> call.cancel(false));
    call.whenComplete((answer, failure) -> {
      if (failure != null) {
        Errors.send(response, callback, failure);
      } else if (answer.completeBody().isPresent()) {
        copy(answer, response, callback, head, policy);
      } else {
        // the body streams from the sandbox: read it where blocking is allowed
        blocking.execute(() -> copy(answer, response, callback, head, policy));
      }
    });
  }

  private static void copy(InvocationResponse answer, Response response, Callback callback, boolean head,
      SharedOrigin.Policy policy) {
    try {
      copyResponse(answer, response, callback, head, policy);
    } catch (Throwable t) {
      answer.close();
      Errors.send(response, callback, t);
    }
  }

  /** Builds the invocation from the request's line and headers (not its body). */
  private InvocationRequest.Builder invocation(Request request, Router.Route route) {
    long length = request.getLength();
    if (length > maxBody) {
      throw tooLarge();
    }
    InvocationRequest.Builder ir = InvocationRequest.builder()
        .method(request.getMethod())
        .path(route.rest())
        .query(request.getHttpURI().getQuery());
    copyRequestHeaders(request, ir);
    return ir;
  }

  /** The way through Jetty's thread pool: token check, streamed request body, blocking invoke. */
  private void handleBlocking(Request request, Response response, Callback callback, Router.Route route,
      SharedOrigin.Policy policy) {
    CappedInputStream capped = null;
    InvocationResponse answer = null;
    try {
      ContainerName container = route.webhook().container();
      if (requireToken) {
        auth.authenticateRun(request).requireContainer(container);
      }
      InvocationRequest.Builder ir = invocation(request, route);
      long length = request.getLength();
      if (length > 0 || (length < 0 && request.getHeaders().contains(HttpHeader.TRANSFER_ENCODING))) {
        capped = new CappedInputStream(Request.asInputStream(request), maxBody);
        ir.body(capped, length);
      }

      java.util.concurrent.atomic.AtomicBoolean answered = new java.util.concurrent.atomic.AtomicBoolean();
      if (capped == null) {
        // No body to wait for: a quiet connection means the webhook works (see invokeAsync).
        request.addIdleTimeoutListener(timeout -> answered.get());
      }
      answer = platform.invoke(route.webhook(), ir.build());
      answered.set(true);
      copyResponse(answer, response, callback, "HEAD".equals(request.getMethod()), policy);
      answer = null; // handed over
    } catch (Throwable t) {
      if (answer != null) {
        answer.close();
      }
      ExtendException slow = RequestBodyGuard.failure(request);
      if (slow != null) {
        Errors.send(response, callback, slow);
      } else if (capped != null && capped.exceeded()) {
        Errors.send(response, callback, tooLarge());
      } else if (Errors.unwrap(t) instanceof ValidationException v && "body".equals(v.field())) {
        // the reading failed below us (the client broke off, a chunk was malformed): its text
        // names Java's exceptions, not the client's mistake
        Errors.send(response, callback, new ValidationException("body",
            "the request body could not be read: it ended early or was malformed"));
      } else {
        Errors.send(response, callback, t);
      }
    }
  }

  private PayloadTooLargeException tooLarge() {
    return new PayloadTooLargeException("request body exceeds the limit of " + maxBody + " bytes");
  }

  /**
   * Copies the request's headers for the webhook. What says where the request came from
   * ({@code X-Forwarded-*}, {@code Forwarded}, {@code X-Real-IP} and the like) is passed on only
   * from a trusted proxy; from anyone else it is dropped, since a client may write anything
   * there, and {@code X-Forwarded-For}/{@code -Proto}/{@code -Host} are set from the connection.
   */
  private void copyRequestHeaders(Request request, InvocationRequest.Builder ir) {
    HttpFields fields = request.getHeaders();
    Set<String> connectionListed = connectionTokens(fields);
    boolean proxied = fromTrustedProxy(request);
    String forwardedFor = null;
    boolean hasProto = false;
    boolean hasHost = false;
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
            if (proxied) {
              forwardedFor = forwardedFor == null ? f.getValue() : forwardedFor + ", " + f.getValue();
            }
            continue;
          }
          default -> {
          }
        }
      } else if (f.getName().regionMatches(true, 0, "proxy-", 0, 6)) {
        continue;
      }
      String lower = f.getLowerCaseName();
      if (connectionListed != null && connectionListed.contains(lower)) {
        continue;
      }
      if (claimsOrigin(lower)) {
        if (!proxied) {
          continue;
        }
        hasProto |= lower.equals("x-forwarded-proto");
        hasHost |= lower.equals("x-forwarded-host");
      }
      ir.header(f.getName(), f.getValue());
    }
    String remote = Request.getRemoteAddr(request);
    ir.header("x-forwarded-for", forwardedFor == null ? remote : forwardedFor + ", " + remote);
    if (!hasProto) {
      ir.header("x-forwarded-proto", request.getHttpURI().getScheme());
    }
    String host = fields.get(HttpHeader.HOST);
    if (host != null && !hasHost) {
      ir.header("x-forwarded-host", host);
    }
  }

  /** Headers by which a client (or a proxy) says where a request came from. */
  static boolean claimsOrigin(String lowerName) {
    return lowerName.startsWith("x-forwarded-") || lowerName.equals("forwarded") || lowerName.equals("x-real-ip")
        || lowerName.equals("x-client-ip") || lowerName.equals("true-client-ip")
        || lowerName.equals("x-cluster-client-ip") || lowerName.equals("cf-connecting-ip")
        || lowerName.equals("x-original-forwarded-for");
  }

  private boolean fromTrustedProxy(Request request) {
    if (trustedProxy == null) {
      return false;
    }
    java.net.SocketAddress a = request.getConnectionMetaData().getRemoteSocketAddress();
    return a instanceof java.net.InetSocketAddress inet && inet.getAddress() != null
        && trustedProxy.test(inet.getAddress());
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
      boolean head, SharedOrigin.Policy policy) throws IOException {
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
      // Content-Length is the server's to state: the webhook's may be wrong (or contradict its
      // Transfer-Encoding), which would make the answer fail half-written.
      if (hopByHop(name) || name.equals("content-length")
          || (connectionListed != null && connectionListed.contains(name))) {
        continue;
      }
      for (String v : e.getValue()) {
        policy.add(out, name, v);
      }
    }
    policy.finish(out);
    // The agent frames the body by Transfer-Encoding when it has one, else by Content-Length.
    long length = headers.first("transfer-encoding") != null ? -1 : parseLength(headers.first("content-length"));

    int status = answer.status();
    if (head || status == 204 || status == 304 || (status >= 100 && status < 200)) {
      // No body by definition; a HEAD answer says how long the body would be.
      answer.close();
      if (head && length >= 0) {
        out.put(HttpHeader.CONTENT_LENGTH, length);
      }
      response.write(true, null, callback);
      return;
    }
    java.util.Optional<ByteBuffer> whole = answer.completeBody();
    if (whole.isPresent()) {
      // received whole with the head: one write, without blocking
      answer.close();
      out.put(HttpHeader.CONTENT_LENGTH, whole.get().remaining());
      response.write(true, whole.get(), callback);
      return;
    }
    InputStream in = answer.body();
    if (length >= 0 && length <= SINGLE_WRITE_MAX) {
      // Common case: one write carries headers and the whole body; no chunked encoding.
      byte[] body = in.readNBytes((int) length);
      answer.close();
      if (body.length != length) {
        throw new dev.extend.FunctionErrorException("ResponseError", "the webhook's answer ended after "
            + body.length + " of the " + length + " bytes its Content-Length announced");
      }
      out.put(HttpHeader.CONTENT_LENGTH, length);
      response.write(true, ByteBuffer.wrap(body), callback);
      return;
    }
    if (length >= 0) {
      // framed by its length, the body read from the agent is never longer (an early end aborts)
      out.put(HttpHeader.CONTENT_LENGTH, length);
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
