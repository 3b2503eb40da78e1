package dev.extend.internal.sandbox;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeoutException;

/** The agent's control calls (health, load), over the same connections as invocations. */
public final class AgentClient {
  /** Hop-by-hop headers, never forwarded (RFC 9110 7.6.1), plus Host, framing and our own control headers. */
  public static final Set<String> HOP_BY_HOP = Set.of("connection", "keep-alive", "proxy-connection", "te", "trailer",
      "transfer-encoding", "upgrade", "proxy-authenticate", "proxy-authorization", "host", "content-length",
      "x-extend-version", "x-extend-invocation-id", "x-extend-error");

  private static final ObjectMapper JSON = new ObjectMapper();
  /**
   * The most of a control answer (health, load) the host reads: the tenant's code shares the
   * agent's process and may answer with a body without end.
   */
  static final int MAX_CONTROL_ANSWER = 64 * 1024;
  private static final List<Map.Entry<String, String>> JSON_HEADERS = List.of(Map.entry("content-type", "application/json"));
  private final AgentHttp http;

  /** A client over the given connections. */
  public AgentClient(AgentHttp http) {
    this.http = http;
  }

  /**
   * Waits until the agent answers its health check, polling briefly.
   *
   * @return true when ready before the deadline
   */
  public boolean awaitReady(Path socket, long deadlineNanos, CompletableFuture<?> exited) throws InterruptedException {
    long pause = 1;
    while (System.nanoTime() < deadlineNanos && !exited.isDone()) {
      if (Files.exists(socket)) {
        try {
          AgentHttp.Response r = http.exchange(socket, "GET", "/_extend/health", List.of(), InputStream.nullInputStream(),
              0, 2000);
          readCapped(r);
          if (r.status() == 200) {
            return true;
          }
        } catch (IOException | TimeoutException e) {
          // not listening yet
        }
      }
      Thread.sleep(pause);
      pause = Math.min(pause * 2, 4); // node starts in tens of ms: poll finely
    }
    return false;
  }

  /** The result of a load command. */
  public record LoadResult(boolean ok, String errorName, String message) {}

  /** Sends a load command; blocks for its answer. */
  public LoadResult load(Path socket, String webhook, Map<String, Object> command, long timeoutMs)
      throws IOException, TimeoutException {
    byte[] body = JSON.writeValueAsBytes(command);
    AgentHttp.Response r = http.exchange(socket, "PUT", "/_extend/webhooks/" + webhook, JSON_HEADERS,
        new ByteArrayInputStream(body), body.length, timeoutMs);
    byte[] answer = readCapped(r);
    if (r.status() == 200) {
      return new LoadResult(true, null, null);
    }
    JsonNode err;
    try {
      err = JSON.readTree(answer).path("error");
    } catch (IOException notJson) {
      err = JSON.createObjectNode(); // cut at the cap, or not JSON: the raw text is the message
    }
    return new LoadResult(false, err.path("name").asText("Error"),
        err.path("message").asText(new String(answer, StandardCharsets.UTF_8)));
  }

  /**
   * Runs a throw-away webhook through the agent once, so that the code paths of loading and
   * invoking are compiled before the sandbox's first real (cold) request.
   */
  public void warmUp(Path socket, Path codeDir) throws IOException, TimeoutException {
    Path dir = Files.createDirectories(codeDir.resolve(".warmup"));
    try {
      Files.writeString(dir.resolve("index.js"), "module.exports = async (ctx) => ({ ok: ctx.body.ok })");
      LoadResult loaded = load(socket, ".warmup", Map.of("version", 0, "container", "", "file", ".warmup/index.js",
          "secrets", Map.of(), "meta", Map.of()), 10_000);
      if (!loaded.ok()) {
        throw new IOException("warm-up load failed: " + loaded.message());
      }
      byte[] body = "{\"ok\":true}".getBytes(StandardCharsets.UTF_8);
      AgentHttp.Response r = http.exchange(socket, "POST", "/_extend/run/.warmup", JSON_HEADERS,
          new ByteArrayInputStream(body), body.length, 10_000);
      readCapped(r);
      readCapped(http.exchange(socket, "DELETE", "/_extend/webhooks/.warmup", List.of(), InputStream.nullInputStream(),
          0, 10_000));
    } finally {
      dev.extend.internal.FileTrees.deleteTree(dir);
    }
  }

  /** At most {@link #MAX_CONTROL_ANSWER} bytes of an answer; a longer one's connection is dropped. */
  private static byte[] readCapped(AgentHttp.Response r) throws IOException {
    try (InputStream in = r.body()) {
      return in.readNBytes(MAX_CONTROL_ANSWER);
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
}
