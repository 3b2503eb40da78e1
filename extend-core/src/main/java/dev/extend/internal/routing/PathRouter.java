package dev.extend.internal.routing;

import dev.extend.ContainerName;
import dev.extend.ValidationException;
import dev.extend.WebhookName;
import dev.extend.WebhookRef;
import dev.extend.spi.Router;
import java.util.Optional;

/** Routes {@code <prefix>/{container}/{webhook}[/{rest}]}. */
public final class PathRouter implements Router {
  private final String prefix;

  /** A router under {@code prefix} (e.g. {@code /run}; empty for the root). */
  public PathRouter(String prefix) {
    String p = prefix == null ? "" : prefix;
    while (p.endsWith("/")) {
      p = p.substring(0, p.length() - 1);
    }
    if (!p.isEmpty() && !p.startsWith("/")) {
      throw new IllegalArgumentException("prefix must start with '/': " + prefix);
    }
    this.prefix = p + "/";
  }

  @Override
  public Optional<Route> route(String host, String path) {
    if (path == null || !path.startsWith(prefix)) {
      return Optional.empty();
    }
    return split(path, prefix.length()).flatMap(parts -> parse(parts[0], parts[1], parts[2]));
  }

  /** Splits {@code a/b[/rest]} starting at {@code from}. */
  static Optional<String[]> split(String path, int from) {
    int s1 = path.indexOf('/', from);
    if (s1 < 0) {
      return Optional.empty();
    }
    int s2 = path.indexOf('/', s1 + 1);
    String a = path.substring(from, s1);
    String b = s2 < 0 ? path.substring(s1 + 1) : path.substring(s1 + 1, s2);
    String rest = s2 < 0 ? "/" : path.substring(s2);
    return Optional.of(new String[] {a, b, rest});
  }

  static Optional<Route> parse(String container, String webhook, String rest) {
    try {
      return Optional.of(new Route(new WebhookRef(new ContainerName(container), new WebhookName(webhook)), rest));
    } catch (ValidationException e) {
      return Optional.empty();
    }
  }
}
