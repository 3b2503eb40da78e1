package dev.extend.testing;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/**
 * Sandbox agents for runtime tests. {@link #writeTestAgent} writes a tiny agent that answers
 * {@code GET /_extend/health} like the real one, plus test routes: {@code GET /_test/env}
 * (its environment as JSON), {@code POST /_test/eval} (runs the body as an async function
 * given {@code require}, answers its JSON result), {@code POST /_test/print} (prints the body
 * to stdout) and {@code GET /_test/exit?code=N}. Only for tests: it runs whatever it is sent.
 */
public final class TestAgent {
  private TestAgent() {}

  /** The classpath resource of the platform's real agent. */
  public static final String REAL_AGENT = "/dev/extend/agent/agent.js";

  /** The test agent's source. */
  public static final String SOURCE = String.join("\n",
      "'use strict';",
      "const http = require('http');",
      "const fs = require('fs');",
      "const opt = (n) => { const i = process.argv.indexOf(n); return i > 0 ? process.argv[i + 1] : undefined; };",
      "const socket = opt('--socket');",
      "try { fs.unlinkSync(socket); } catch (e) {}",
      "process.on('SIGTERM', () => process.exit(0));",
      "const AsyncFunction = Object.getPrototypeOf(async function () {}).constructor;",
      "const server = http.createServer((req, res) => {",
      "  const chunks = [];",
      "  req.on('data', (c) => chunks.push(c));",
      "  req.on('end', async () => {",
      "    const body = Buffer.concat(chunks).toString('utf8');",
      "    try {",
      "      const url = new URL(req.url, 'http://agent');",
      "      if (url.pathname === '/_extend/health') { res.end('{\"ok\":true}'); return; }",
      "      if (url.pathname === '/_test/env') { res.end(JSON.stringify(process.env)); return; }",
      "      if (url.pathname === '/_test/print') { console.log(body); res.end('printed'); return; }",
      "      if (url.pathname === '/_test/exit') {",
      "        res.end('bye', () => process.exit(Number(url.searchParams.get('code') || '0')));",
      "        return;",
      "      }",
      "      if (url.pathname === '/_test/eval') {",
      "        const result = await new AsyncFunction('require', body)(require);",
      "        res.end(JSON.stringify(result === undefined ? null : result));",
      "        return;",
      "      }",
      "      res.statusCode = 404; res.end('not found');",
      "    } catch (e) {",
      "      res.statusCode = 500; res.end(String((e && e.stack) || e));",
      "    }",
      "  });",
      "});",
      "server.listen(socket, () => {",
      "  console.log('test agent listening');",
      "  console.error('test agent stderr line');",
      "});",
      "");

  /** Writes the test agent as {@code dir/agent.js} and returns {@code dir}. */
  public static Path writeTestAgent(Path dir) throws IOException {
    Files.createDirectories(dir);
    Files.writeString(dir.resolve("agent.js"), SOURCE);
    return dir;
  }

  /** Whether core's real agent is on the classpath. */
  public static boolean realAgentAvailable() {
    return TestAgent.class.getResource(REAL_AGENT) != null;
  }

  /** Copies core's real agent to {@code dir/agent.js} and returns {@code dir}. */
  public static Path writeRealAgent(Path dir) throws IOException {
    Files.createDirectories(dir);
    try (InputStream in = TestAgent.class.getResourceAsStream(REAL_AGENT)) {
      if (in == null) {
        throw new IOException("no " + REAL_AGENT + " on the classpath");
      }
      Files.copy(in, dir.resolve("agent.js"), StandardCopyOption.REPLACE_EXISTING);
    }
    return dir;
  }
}
