package dev.extend;

import java.util.Objects;

/**
 * Names one webhook: its container and its name within that container.
 *
 * @param container the owning container
 * @param name the webhook's name
 */
public record WebhookRef(ContainerName container, WebhookName name) implements Comparable<WebhookRef> {
  /** Checks that both parts are present. */
  public WebhookRef {
    Objects.requireNonNull(container, "container");
    Objects.requireNonNull(name, "name");
  }

  /** Creates a reference from raw strings, validating both. */
  public static WebhookRef of(String container, String name) {
    return new WebhookRef(new ContainerName(container), new WebhookName(name));
  }

  @Override
  public int compareTo(WebhookRef o) {
    int c = container.compareTo(o.container);
    return c != 0 ? c : name.compareTo(o.name);
  }

  /** {@code container/name}. */
  @Override
  public String toString() {
    return container + "/" + name;
  }
}
