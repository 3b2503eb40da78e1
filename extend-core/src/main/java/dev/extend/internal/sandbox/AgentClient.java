package dev.extend.internal.sandbox;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
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
import org.eclipse.jetty.http.HttpCookieStore;
import org.eclipse.jetty.http.HttpMethod;
import org.eclipse.jetty.io.Transport;
import org.eclipse.jetty.util.thread.QueuedThreadPool;

/**
 * The agent's control calls (health, load) over Unix domain sockets, on the cold path. One
 * client serves every sandbox: the socket is part of each destination's key. Invocations
 * take the leaner {@link AgentHttp}.
 */
public final class AgentClient implements AutoCloseable {
  /** Hop-by-hop headers, never forwarded (RFC 9110 7.6.1), plus Host and our own control headers. */
  public static final Set<String> HOP_BY_HOP = Set.of("connection", "keep-alive", "proxy-connection", "te", "trailer",
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
