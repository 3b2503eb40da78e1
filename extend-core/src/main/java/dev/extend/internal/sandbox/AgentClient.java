package dev.extend.internal.sandbox;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.extend.Headers;
import dev.extend.InvocationRequest;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.eclipse.jetty.client.BytesRequestContent;
import org.eclipse.jetty.client.ContentResponse;
import org.eclipse.jetty.client.HttpClient;
import org.eclipse.jetty.client.InputStreamRequestContent;
import org.eclipse.jetty.client.InputStreamResponseListener;
import org.eclipse.jetty.client.Request;
import org.eclipse.jetty.client.Response;
import org.eclipse.jetty.http.HttpCookieStore;
import org.eclipse.jetty.http.HttpField;
import org.eclipse.jetty.http.HttpMethod;
import org.eclipse.jetty.io.Transport;
import org.eclipse.jetty.util.thread.QueuedThreadPool;

/**
 * Talks HTTP/1.1 with keep-alive to sandbox agents over their Unix domain sockets. One client
 * serves every sandbox: the socket is part of each destination's key.
 */
public final class AgentClient implements AutoCloseable {
  /** Hop-by-hop headers, never forwarded (RFC 9110 7.6.1), plus Host and our own control headers. */
  static final Set<String> HOP_BY_HOP = Set.of("connection", "keep-alive", "proxy-connection", "te", "trailer",
      "transfer-encoding", "upgrade", "proxy-authenticate", "proxy-authorization", "host", "content-length",
      "x-extend-version", "x-extend-invocation-id", "x-extend-error");

  private static final ObjectMapper JSON = new ObjectMapper();
  private final HttpClient client;

  /** Starts the client. */
  public AgentClient() {
    QueuedThreadPool threads = new QueuedThreadPool(200, 4);
    threads.setName("extend-agent-client");
    threads.setDaemon(true);
    client = new HttpClient();
    client.setExecutor(threads);
    client.setMaxConnectionsPerDestination(1024);
    client.setIdleTimeout(60_000);
    client.setFollowRedirects(false);
    client.setUserAgentField(null);
    // A proxy passes bodies through as they are: no decoding, no cookies of its own.
    client.getContentDecoderFactories().clear();
    client.setHttpCookieStore(new HttpCookieStore.Empty());
    try {
      client.start();
    } catch (Exception e) {
      throw new IllegalStateException("cannot start the agent HTTP client", e);
    }
  }

  /** The transport reaching one sandbox's socket. */
  public static Transport transport(Path socket) {
    return new Transport.TCPUnix(socket);
  }

  /**
   * Waits until the agent answers its health check, polling briefly.
   *
   * @return true when ready before the deadline
   */
  public boolean awaitReady(Path socket, Transport transport, long deadlineNanos, CompletableFuture<?> exited)
      throws InterruptedException {
    long pause = 1;
    while (System.nanoTime() < deadlineNanos && !exited.isDone()) {
      if (Files.exists(socket)) {
        try {
          ContentResponse r = client.newRequest("http://localhost/_extend/health").transport(transport)
              .timeout(2, TimeUnit.SECONDS).send();
          if (r.getStatus() == 200) {
            return true;
          }
        } catch (ExecutionException | TimeoutException e) {
          // not listening yet
        }
      }
      Thread.sleep(pause);
      pause = Math.min(pause * 2, 20);
    }
    return false;
  }

  /** The result of a load command. */
  public record LoadResult(boolean ok, String errorName, String message) {}

  /** Sends a load command; blocks for its answer. */
  public LoadResult load(Transport transport, String webhook, Map<String, Object> command, long timeoutMs)
      throws IOException, InterruptedException, TimeoutException {
    byte[] body = JSON.writeValueAsBytes(command);
    try {
      ContentResponse r = client.newRequest("http://localhost/_extend/webhooks/" + webhook).transport(transport)
          .method(HttpMethod.PUT).body(new BytesRequestContent("application/json", body))
          .timeout(timeoutMs, TimeUnit.MILLISECONDS).send();
      if (r.getStatus() == 200) {
        return new LoadResult(true, null, null);
      }
      JsonNode err = JSON.readTree(r.getContent()).path("error");
      return new LoadResult(false, err.path("name").asText("Error"),
          err.path("message").asText(r.getContentAsString()));
    } catch (ExecutionException e) {
      throw new IOException("load of " + webhook + " failed: " + e.getCause(), e.getCause());
    }
  }

  /** A response whose headers arrived; its body streams. */
  public record AgentResponse(int status, Headers headers, String errorCode, InputStream body) {}

  /**
   * Invokes a webhook in a sandbox.
   *
   * @return completes with the response headers; exceptionally with {@link TimeoutException}
   *     after {@code timeoutMs}, or with the I/O failure
   */
  public CompletableFuture<AgentResponse> invoke(Transport transport, String webhook, long version,
      String invocationId, InvocationRequest req, long timeoutMs) {
    StringBuilder uri = new StringBuilder(64).append("http://localhost/_extend/run/").append(webhook)
        .append(req.path());
    if (req.query() != null) {
      uri.append('?').append(req.query());
    }
    Request r = client.newRequest(uri.toString()).transport(transport).method(req.method())
        .timeout(timeoutMs, TimeUnit.MILLISECONDS);
    r.headers(h -> {
      req.headers().forEach((name, value) -> {
        if (!HOP_BY_HOP.contains(name)) {
          h.add(name, value);
        }
      });
      h.put("x-extend-version", Long.toString(version));
      h.put("x-extend-invocation-id", invocationId);
    });
    long length = req.contentLength();
    if (length != 0) {
      String contentType = req.headers().first("content-type");
      r.body(new InputStreamRequestContent(contentType, req.body()) {
        @Override
        public long getLength() {
          return length;
        }
      });
    }
    CompletableFuture<AgentResponse> result = new CompletableFuture<>();
    InputStreamResponseListener listener = new InputStreamResponseListener() {
      @Override
      public void onHeaders(Response response) {
        super.onHeaders(response);
        Headers.Builder hb = Headers.builder();
        String error = null;
        for (HttpField f : response.getHeaders()) {
          String name = f.getLowerCaseName();
          if (name.equals("x-extend-error")) {
            error = f.getValue();
          } else if (!HOP_BY_HOP.contains(name) || name.equals("content-length")) {
            hb.add(name, f.getValue());
          }
        }
        result.complete(new AgentResponse(response.getStatus(), hb.build(), error, getInputStream()));
      }

      @Override
      public void onComplete(org.eclipse.jetty.client.Result r) {
        super.onComplete(r);
        if (r.isFailed()) {
          Throwable requestFailure = r.getRequestFailure();
          result.completeExceptionally(requestFailure != null && !(requestFailure instanceof TimeoutException)
              ? new RequestBodyFailure(requestFailure)
              : r.getFailure());
        }
      }
    };
    r.send(listener);
    return result;
  }

  /**
   * The caller's request body failed while it was sent (it exceeded a cap, or the client went
   * away): the caller's fault, not the sandbox's.
   */
  public static final class RequestBodyFailure extends IOException {
    private static final long serialVersionUID = 1L;

    RequestBodyFailure(Throwable cause) {
      super("the request body could not be read: " + cause.getMessage(), cause);
    }
  }

  /** Reads a small error body as JSON. */
  public static JsonNode readError(InputStream body) {
    try (InputStream in = body) {
      return JSON.readTree(new String(in.readNBytes(64 * 1024), StandardCharsets.UTF_8)).path("error");
    } catch (IOException e) {
      return JSON.createObjectNode();
    }
  }

  @Override
  public void close() {
    try {
      client.stop();
    } catch (Exception e) {
      // shutting down
    }
  }
}
