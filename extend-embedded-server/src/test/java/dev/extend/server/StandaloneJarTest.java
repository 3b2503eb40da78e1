package dev.extend.server;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The executable jar ({@code target/extend-server.jar}, built in the package phase before this
 * test runs) started as a child process on an empty data dir: local runtime, H2 storage.
 */
class StandaloneJarTest {
  private static final Path JAR = Path.of("target", "extend-server.jar");

  @TempDir
  Path dataDir;

  /**
   * A running child server. Its output goes to a file rather than a pipe, so that nothing it
   * writes while exiting is lost.
   */
  private static final class Child implements AutoCloseable {
    final Process process;
    final Path log;

    Child(Path dataDir, int port) throws IOException {
      ProcessBuilder pb = new ProcessBuilder(
          Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-jar", JAR.toString());
      pb.environment().keySet().removeIf(k -> k.startsWith("EXTEND_"));
      pb.environment().put("EXTEND_RUNTIME", "local");
      pb.environment().put("EXTEND_PORT", Integer.toString(port));
      pb.environment().put("EXTEND_HOST", "127.0.0.1");
      pb.environment().put("EXTEND_DATA_DIR", dataDir.toString());
      pb.environment().put("EXTEND_POOL_SIZE", "1");
      pb.environment().put("EXTEND_DRAIN_SECONDS", "5");
      log = Files.createTempFile("extend-server", ".log");
      pb.redirectErrorStream(true);
      pb.redirectOutput(log.toFile());
      process = pb.start();
    }

    List<String> output() throws IOException {
      return Files.readAllLines(log, StandardCharsets.UTF_8);
    }

    /** Waits for the ready line. */
    void awaitReady() throws Exception {
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
      while (System.nanoTime() < deadline) {
        if (output().stream().anyMatch(l -> l.startsWith("Extend server ready"))) {
          return;
        }
        if (!process.isAlive()) {
          throw new AssertionError("server exited before it was ready:\n" + String.join("\n", output()));
        }
        Thread.sleep(100);
      }
      throw new AssertionError("server not ready within 120 s:\n" + String.join("\n", output()));
    }

    /** SIGTERM, then wait: the shutdown hook stops the server gracefully. */
    int terminate() throws Exception {
      process.destroy();
      if (!process.waitFor(30, TimeUnit.SECONDS)) {
        process.destroyForcibly();
        throw new AssertionError("no exit within 30 s of SIGTERM:\n" + String.join("\n", output()));
      }
      return process.exitValue();
    }

    @Override
    public void close() throws IOException {
      process.destroyForcibly();
      Files.deleteIfExists(log);
    }
  }

  private static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }

  /** The default runtime fails closed: without containerd the server does not start at all. */
  @Test
  void refusesToStartWithoutContainerdUnlessTheDevelopmentRuntimeIsNamed() throws Exception {
    assertThat(JAR).as("the shaded jar is built before this test (mvn package)").exists();
    ProcessBuilder pb = new ProcessBuilder(
        Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-jar", JAR.toString());
    pb.environment().keySet().removeIf(k -> k.startsWith("EXTEND_"));
    pb.environment().put("EXTEND_CONTAINERD_SOCKET", dataDir.resolve("no-containerd.sock").toString());
    pb.environment().put("EXTEND_PORT", Integer.toString(freePort()));
    pb.environment().put("EXTEND_HOST", "127.0.0.1");
    pb.environment().put("EXTEND_DATA_DIR", dataDir.resolve("data").toString());
    Path log = Files.createTempFile("extend-server", ".log");
    pb.redirectErrorStream(true);
    pb.redirectOutput(log.toFile());
    Process p = pb.start();
    try {
      assertThat(p.waitFor(120, TimeUnit.SECONDS)).as("the server exits by itself").isTrue();
      String out = Files.readString(log, StandardCharsets.UTF_8);
      assertThat(p.exitValue()).as(out).isNotZero();
      assertThat(out).contains("EXTEND_RUNTIME=auto needs containerd", "apt-get install containerd runc")
          .doesNotContain("Extend server ready");
    } finally {
      p.destroyForcibly();
      Files.deleteIfExists(log);
    }
  }

  @Test
  void startsOnAnEmptyDataDirServesAndKeepsStateAcrossRestarts() throws Exception {
    assertThat(JAR).as("the shaded jar is built before this test (mvn package)").exists();
    int port = freePort();
    String base = "http://127.0.0.1:" + port;
    HttpClient http = HttpClient.newHttpClient();
    String token;
    try (Child child = new Child(dataDir, port)) {
      child.awaitReady();
      HttpResponse<String> health = http.send(HttpRequest.newBuilder(URI.create(base + "/healthz")).build(),
          HttpResponse.BodyHandlers.ofString());
      assertThat(health.statusCode()).isEqualTo(200);

      Path tokenFile = dataDir.resolve("admin-token");
      assertThat(tokenFile).exists();
      assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(tokenFile))).isEqualTo("rw-------");
      token = Files.readString(tokenFile).strip();
      assertThat(child.output()).anyMatch(l -> l.contains(token));

      HttpResponse<String> put = http.send(HttpRequest.newBuilder(URI.create(base + "/api/v1/containers/acme/webhooks/hello"))
          .header("Authorization", "Bearer " + token)
          .header("Content-Type", "application/json")
          .PUT(HttpRequest.BodyPublishers.ofString("{\"code\": \"module.exports = async (ctx) => ({ hi: ctx.body.name })\"}"))
          .build(), HttpResponse.BodyHandlers.ofString());
      assertThat(put.statusCode()).as(put.body()).isEqualTo(201);
      HttpResponse<String> run = http.send(HttpRequest.newBuilder(URI.create(base + "/run/acme/hello"))
          .timeout(Duration.ofSeconds(60))
          .POST(HttpRequest.BodyPublishers.ofString("{\"name\": \"Ada\"}"))
          .header("Content-Type", "application/json")
          .build(), HttpResponse.BodyHandlers.ofString());
      assertThat(run.statusCode()).as(run.body()).isEqualTo(200);
      assertThat(run.body()).isEqualTo("{\"hi\":\"Ada\"}");

      int exit = child.terminate();
      assertThat(exit).as(String.join("\n", child.output())).isIn(0, 143);
      assertThat(child.output()).anyMatch(l -> l.contains("Extend server stopped"));
    }

    // Same data dir: the webhook (H2) and the admin token survive; no new token is generated.
    try (Child again = new Child(dataDir, port)) {
      again.awaitReady();
      assertThat(again.output()).noneMatch(l -> l.contains("Generated the admin token"));
      HttpResponse<String> get = http.send(HttpRequest.newBuilder(URI.create(base + "/api/v1/containers/acme/webhooks/hello"))
          .header("Authorization", "Bearer " + token).build(), HttpResponse.BodyHandlers.ofString());
      assertThat(get.statusCode()).as(get.body()).isEqualTo(200);
      again.terminate();
    }
  }
}
