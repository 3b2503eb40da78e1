package dev.extend.internal.routing;

import dev.extend.spi.Router;
import java.util.Locale;
import java.util.Optional;

/** Routes {@code {container}.<domain>/{webhook}[/{rest}]}. */
public final class HostRouter implements Router {
  private final String suffix;

  /** A router for sub-domains of {@code domain}. */
  public HostRouter(String domain) {
    if (domain == null || domain.isBlank() || domain.startsWith(".")) {
      throw new IllegalArgumentException("domain must be a host name, was '" + domain + "'");
    }
    this.suffix = "." + domain.toLowerCase(Locale.ROOT);
  }

  @Override
  public Optional<Route> route(String host, String path) {
    if (host == null || path == null || !path.startsWith("/")) {
      return Optional.empty();
    }
    String h = host.toLowerCase(Locale.ROOT);
    if (!h.endsWith(suffix)) {
      return Optional.empty();
    }
    String container = h.substring(0, h.length() - suffix.length());
    if (container.isEmpty() || container.indexOf('.') >= 0 || container.indexOf('_') >= 0) {
      return Optional.empty();
    }
    int s = path.indexOf('/', 1);
    String webhook = s < 0 ? path.substring(1) : path.substring(1, s);
    String rest = s < 0 ? "/" : path.substring(s);
    return PathRouter.parse(container, webhook, rest);
  }
}
