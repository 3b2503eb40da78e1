package dev.extend.bench;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * A bare Node.js {@code http.Server} hello world, listening on 127.0.0.1 (a free port) and on a
 * Unix domain socket: the reference the platform's figures are compared with.
 */
final class NodeBaseline implements AutoCloseable {
  static final String BODY = "hello world";
  private static final String JS = String.join("\n",
      "'use strict';",
      "const http = require('http');",
      "const fs = require('fs');",
      "const handler = (req, res) => {",
      "  res.writeHead(200, {'content-type': 'text/plain; charset=utf-8'});",
      "  res.end('" + BODY + "');",
      "};",
      "const sock = process.argv[2];",
      "try { fs.unlinkSync(sock); } catch (e) {}",
      "const tcp = http.createServer(handler);",
      "const uds = http.createServer(handler);",
      "for (const s of [tcp, uds]) { s.keepAliveTimeout = 120000; s.headersTimeout = 121000; }",
      "tcp.listen(0, '127.0.0.1', () => uds.listen(sock, () => console.log('READY ' + tcp.address().port)));",
      "");

  private final Process process;
  private final int port;
  private final Path socket;

  private NodeBaseline(Process process, int port, Path socket) {
    this.process = process;
    this.port = port;
    this.socket = socket;
  }

  static NodeBaseline start(Path node, Path dir) throws IOException, InterruptedException {
    Files.createDirectories(dir);
    Path js = dir.resolve("hello.js");
    Files.writeString(js, JS);
    Path sock = dir.resolve("hello.sock");
    Process p = new ProcessBuilder(node.toString(), js.toString(), sock.toString())
        .redirectErrorStream(true).start();
    BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
    String line = r.readLine();
    if (line == null || !line.startsWith("READY ")) {
      p.destroyForcibly();
      p.waitFor(5, TimeUnit.SECONDS);
      throw new IOException("bare node did not start: " + line);
    }
    return new NodeBaseline(p, Integer.parseInt(line.substring(6).strip()), sock);
  }

  int port() {
    return port;
  }

  Path socket() {
    return socket;
  }

  long pid() {
    return process.pid();
  }

  @Override
  public void close() throws InterruptedException {
    process.destroy();
    if (!process.waitFor(5, TimeUnit.SECONDS)) {
      process.destroyForcibly();
      process.waitFor(5, TimeUnit.SECONDS);
    }
  }
}
