package dev.extend.spi;

import dev.extend.WebhookRef;
import java.util.Optional;

/**
 * Maps an incoming HTTP request to the webhook it runs.
 *
 * <p>Duties of an implementation: pure and thread-safe; never throws for malformed input
 * (answers empty); the returned {@code rest} starts with {@code /}.
 */
public interface Router {

  /** Where a request goes: the webhook, and the path below it. */
  record Route(WebhookRef webhook, String rest) {}

  /**
   * Routes a request.
   *
   * @param host the request's Host header without port, may be null
   * @param path the request's path as received (not percent-decoded), without the query
   */
  Optional<Route> route(String host, String path);

  /** {@code <prefix>/{container}/{webhook}[/{rest}]}, e.g. prefix {@code /run}. */
  static Router pathBased(String prefix) {
    return new dev.extend.internal.routing.PathRouter(prefix);
  }

  /** {@code {container}.<domain>} with the path {@code /{webhook}[/{rest}]}. */
  static Router hostBased(String domain) {
    return new dev.extend.internal.routing.HostRouter(domain);
  }
}
