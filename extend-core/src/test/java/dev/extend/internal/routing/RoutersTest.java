package dev.extend.internal.routing;

import static org.assertj.core.api.Assertions.assertThat;

import dev.extend.WebhookRef;
import dev.extend.spi.Router;
import dev.extend.spi.Router.Route;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class RoutersTest {
  private final Router path = Router.pathBased("/run");
  private final Router host = Router.hostBased("hooks.example.com");

  @Test
  void pathBased() {
    assertThat(path.route(null, "/run/acme/hello")).contains(new Route(WebhookRef.of("acme", "hello"), "/"));
    assertThat(path.route(null, "/run/acme/hello/a/b")).contains(new Route(WebhookRef.of("acme", "hello"), "/a/b"));
    assertThat(path.route(null, "/run/acme/hello/")).contains(new Route(WebhookRef.of("acme", "hello"), "/"));
  }

  @Test
  void pathBasedRejectsMalformed() {
    for (String p : new String[] {"/run", "/run/", "/run/acme", "/run/acme/", "/other/acme/hello", "/run/ACME/hello",
        "/run/../hello", "/run/acme/..", "/run/acme/.hidden", "/runx/acme/hello", "/run//hello"}) {
      assertThat(path.route(null, p)).as(p).isEqualTo(Optional.empty());
    }
  }

  @Test
  void hostBased() {
    assertThat(host.route("acme.hooks.example.com", "/hello/x")).contains(new Route(WebhookRef.of("acme", "hello"), "/x"));
    assertThat(host.route("ACME.Hooks.Example.com", "/hello")).contains(new Route(WebhookRef.of("acme", "hello"), "/"));
    assertThat(host.route("a.b.hooks.example.com", "/hello")).isEmpty();
    assertThat(host.route("hooks.example.com", "/hello")).isEmpty();
    assertThat(host.route("acme.evil.com", "/hello")).isEmpty();
    assertThat(host.route("acme.hooks.example.com", "/")).isEmpty();
    assertThat(host.route(null, "/hello")).isEmpty();
  }
}
