package dev.extend.modulebuild;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.extend.testing.LocalNpmRegistry;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.URI;
import java.net.UnixDomainSocketAddress;
import java.net.http.HttpClient;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The registry proxy against what a hostile build job may send over its socket: other methods,
 * foreign Host headers, paths outside the two it serves, tarballs it never listed, credentials
 * of its own, private scopes; and tarballs of packument documents that lie elsewhere.
 */
class RegistryProxyTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final HttpClient HTTP = HttpClient.newBuilder().followRedirects(HttpClient.Redirect.NEVER).build();
  private static LocalNpmRegistry registry;
  private Path dir;
  private RegistryProxy proxy;
  private final List<String> log = new CopyOnWriteArrayList<>();

  @BeforeAll
  static void startRegistry() throws IOException {
    registry = LocalNpmRegistry.withFixtures();
  }

  @AfterAll
  static void stopRegistry() {
    registry.close();
  }

  @AfterEach
  void stop() throws IOException {
    if (proxy != null) {
      proxy.close();
    }
    if (dir != null) {
      NpmModuleBuilder.deleteTree(dir);
    }
  }

  private void start(URI upstream, String npmrc, Set<String> privateScopes) throws IOException {
    dir = Files.createTempDirectory("extend-proxy-test-");
    Upstreams u = Upstreams.parse(npmrc, upstream, name -> null, () -> upstream);
    proxy = RegistryProxy.start(dir, u, HTTP, new RegistryProxy.Policy(privateScopes, null), log::add, 8L << 20,
        Duration.ofSeconds(10));
  }

  record Answer(int status, String body) {
    JsonNode json() throws IOException {
      return JSON.readTree(body);
    }
  }

  /** Sends raw bytes as the job would, and reads the whole answer (the proxy closes or we read to the length). */
  private Answer send(String request) throws IOException {
    try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
      ch.connect(UnixDomainSocketAddress.of(dir.resolve(RegistryProxy.SOCKET)));
      ch.write(ByteBuffer.wrap(request.getBytes(StandardCharsets.ISO_8859_1)));
      ch.shutdownOutput();
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      ByteBuffer buf = ByteBuffer.allocate(64 << 10);
      while (ch.read(buf) >= 0) {
        out.write(buf.array(), 0, buf.position());
        buf.clear();
      }
      String text = out.toString(StandardCharsets.ISO_8859_1);
      int status = Integer.parseInt(text.substring(9, 12));
      int bodyAt = text.indexOf("\r\n\r\n");
      return new Answer(status, bodyAt < 0 ? "" : text.substring(bodyAt + 4));
    }
  }

  private Answer get(String path) throws IOException {
    return send("GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1:4873\r\nConnection: close\r\n\r\n");
  }

  @Test
  void servesPackumentsWithTarballsPointingBackAtItself() throws Exception {
    start(registry.url(), "", Set.of());
    Answer a = get("/ext-leaf");
    assertThat(a.status()).isEqualTo(200);
    String tarball = a.json().path("versions").path("1.0.0").path("dist").path("tarball").asText();
    assertThat(tarball).startsWith("http://127.0.0.1:4873/-/extend/tarball/");
    Answer t = get(URI.create(tarball).getRawPath());
    assertThat(t.status()).isEqualTo(200);
    assertThat(get("/@extend-test%2fgreeter").status()).isEqualTo(200);
    assertThat(get("/@extend-test/greeter").status()).isEqualTo(200);
  }

  @Test
  void refusesWhatIsNotAPackageDocumentOrAListedTarball() throws Exception {
    start(registry.url(), "", Set.of());
    int before = registry.requests();
    assertThat(send("POST /ext-leaf HTTP/1.1\r\nHost: 127.0.0.1:1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        .status()).isEqualTo(405);
    assertThat(send("PUT /ext-leaf HTTP/1.1\r\nHost: 127.0.0.1:1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        .status()).isEqualTo(405);
    assertThat(send("GET /ext-leaf HTTP/1.1\r\nHost: registry.example:80\r\nConnection: close\r\n\r\n").status())
        .isEqualTo(400);
    assertThat(send("GET /ext-leaf HTTP/1.1\r\nConnection: close\r\n\r\n").status()).isEqualTo(400);
    for (String path : List.of("/-/extend/tarball/99999/x.tgz", "/-/v1/search?text=x", "/-/whoami", "/",
        "/ext-leaf/-/ext-leaf-1.0.0.tgz", "/-/tarballs/ext-leaf-1.0.0.tgz", "/..%2f..%2fetc%2fpasswd",
        "/%2e%2e/etc/passwd", "/ext-leaf%00", "/ext-leaf/../../x", "/@/x", "/@a/b/c", "/-/extend/refused/x.tgz")) {
      assertThat(get(path).status()).as(path).isIn(400, 404);
    }
    assertThat(registry.requests()).as("none of it reached the registry").isEqualTo(before);
  }

  @Test
  void theJobsOwnCredentialsAreNotPassedOn() throws Exception {
    try (LocalNpmRegistry locked = LocalNpmRegistry.withFixtures()) {
      locked.requireToken("right");
      start(locked.url(), "", Set.of());
      Answer a = send("GET /ext-leaf HTTP/1.1\r\nHost: 127.0.0.1:1\r\nAuthorization: Bearer right\r\n"
          + "Cookie: x=y\r\nConnection: close\r\n\r\n");
      assertThat(a.status()).isEqualTo(403);
      assertThat(log).contains("registry: upstream answered 401 for ext-leaf");
      proxy.close();
      NpmModuleBuilder.deleteTree(dir);

      // The host's credentials for that registry are added upstream.
      start(locked.url(), "//127.0.0.1:" + locked.url().getPort() + "/:_authToken=right\n", Set.of());
      Answer ok = get("/ext-leaf");
      assertThat(ok.status()).isEqualTo(200);
      assertThat(ok.body()).doesNotContain("right");
      assertThat(locked.authorizedRequests()).isEqualTo(1);
    }
  }

  @Test
  void privateScopesOfOthersAreRefused() throws Exception {
    start(registry.url(), "", Set.of("extend-test"));
    int before = registry.requests();
    assertThat(get("/@extend-test%2fgreeter").status()).isEqualTo(403);
    assertThat(get("/@EXTEND-TEST%2Fgreeter").status()).isEqualTo(403);
    assertThat(get("/%40extend-test%2fgreeter").status()).isEqualTo(403);
    assertThat(registry.requests()).isEqualTo(before);
    assertThat(log).contains("registry: refused @extend-test/greeter: the private scope @extend-test is not open to"
        + " this build");
  }

  @Test
  void tarballsOutsideTheRegistryAreRefused() throws Exception {
    // The same registry under another origin: its documents' tarballs (on 127.0.0.1) lie elsewhere.
    URI other = URI.create("http://localhost:" + registry.url().getPort() + "/");
    start(other, "", Set.of());
    Answer a = get("/ext-leaf");
    assertThat(a.status()).isEqualTo(200);
    String tarball = a.json().path("versions").path("1.0.0").path("dist").path("tarball").asText();
    assertThat(tarball).startsWith("http://127.0.0.1:4873/-/extend/refused/");
    assertThat(get(URI.create(tarball).getRawPath()).status()).isEqualTo(404);
    assertThat(log).anyMatch(l -> l.contains("whose tarball lies outside the registry are refused"));
  }

  @Test
  void npmrcCredentialsAndScopesParse() {
    Upstreams u = Upstreams.parse(String.join("\n",
        "registry=https://r.example/npm/",
        "@corp:registry=https://corp.example/",
        "//r.example/npm/:_authToken=${TOKEN}",
        "//corp.example/:username=ci",
        "//corp.example/:_password=" + java.util.Base64.getEncoder().encodeToString("pw".getBytes()),
        "; a comment", "strict-ssl=false"), null, Map.of("TOKEN", "t0k")::get, () -> null);
    assertThat(u.defaultRegistry()).isEqualTo(URI.create("https://r.example/npm/"));
    assertThat(u.registryFor("corp")).isEqualTo(URI.create("https://corp.example/"));
    assertThat(u.registryFor("other")).isEqualTo(URI.create("https://r.example/npm/"));
    assertThat(u.authorization(URI.create("https://r.example/npm/lodash"))).contains("Bearer t0k");
    assertThat(u.authorization(URI.create("https://r.example/other/lodash"))).isEmpty();
    assertThat(u.authorization(URI.create("https://corp.example/@corp%2fx"))).contains(
        "Basic " + java.util.Base64.getEncoder().encodeToString("ci:pw".getBytes()));
    assertThat(u.authorization(URI.create("https://elsewhere.example/x"))).isEmpty();
  }
}
