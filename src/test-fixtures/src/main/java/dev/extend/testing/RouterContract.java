package dev.extend.testing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;

import dev.extend.WebhookRef;
import dev.extend.spi.Router;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/**
 * The duties of every {@link Router}: it routes well-formed requests to the right webhook with
 * a rest path starting with {@code /}, answers empty (never throws) for anything malformed or
 * hostile, and is pure.
 */
public abstract class RouterContract {

  /** The router under test. */
  protected abstract Router router();

  /** A host and path that must route to {@code acme/hello} with the rest {@code /a/b?}. */
  protected abstract String[] requestFor(String container, String webhook, String rest);

  @Test
  void routesWellFormedRequests() {
    String[] r = requestFor("acme", "hello", "/a/b");
    Optional<Router.Route> route = router().route(r[0], r[1]);
    assertThat(route).isPresent();
    assertThat(route.get().webhook()).isEqualTo(WebhookRef.of("acme", "hello"));
    assertThat(route.get().rest()).isEqualTo("/a/b");
    String[] bare = requestFor("acme", "hello", "");
    assertThat(router().route(bare[0], bare[1])).get().extracting(Router.Route::rest).isEqualTo("/");
  }

  @Test
  void isPure() {
    String[] r = requestFor("t-1", "w_2", "/x");
    assertThat(router().route(r[0], r[1])).isEqualTo(router().route(r[0], r[1]));
  }

  @Test
  void restAlwaysStartsWithSlash() {
    for (String rest : List.of("", "/", "/x", "/x/y/z", "/%2e%2e")) {
      String[] r = requestFor("acme", "hello", rest);
      router().route(r[0], r[1]).ifPresent(route -> assertThat(route.rest()).startsWith("/"));
    }
  }

  @Test
  void neverThrowsOnHostileInput() {
    List<String> hosts = java.util.Arrays.asList(null, "", ".", "..", "a..b", "UPPER.example", "x".repeat(10_000), "\u0000");
    List<String> paths = java.util.Arrays.asList(null, "", "/", "//", "/../..", "/run/../../etc/passwd", "/run/%00/x",
        "/run/a/b/../../c", "no-slash", "/" + "a/".repeat(5000), "/run/\u0000/x", "/run/ACME/x", "/run/acme/..");
    for (String h : hosts) {
      for (String p : paths) {
        assertThatCode(() -> {
          Optional<Router.Route> route = router().route(h, p);
          route.ifPresent(x -> {
            assertThat(x.rest()).startsWith("/");
            assertThat(x.webhook().container().value()).doesNotContain("..", "/");
            assertThat(x.webhook().name().value()).doesNotContain("..", "/");
          });
        }).as("host %s path %s", h, p).doesNotThrowAnyException();
      }
    }
  }
}
