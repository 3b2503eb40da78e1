package dev.extend.spi;

import dev.extend.WebhookRef;

/**
 * Observes what the platform does, for metrics. Every method has an empty default; calls come
 * on platform threads and must be fast and must not throw.
 */
public interface PlatformListener {
  /** A listener that observes nothing. */
  PlatformListener NONE = new PlatformListener() {};

  /**
   * An invocation ended (its response headers were produced, or it failed).
   *
   * @param webhook the webhook
   * @param status the HTTP status answered (platform errors included)
   * @param nanos time from the call to the response headers
   * @param cold whether a sandbox had to be assigned to the container first
   */
  default void invocationEnded(WebhookRef webhook, int status, long nanos, boolean cold) {}

  /** A sandbox was started in {@code nanos} (process start to agent ready). */
  default void sandboxStarted(String sandboxId, long nanos) {}

  /** A sandbox ended; {@code reason} says why (idle, crashed, oom, timeout, shutdown...). */
  default void sandboxEnded(String sandboxId, String reason) {}
}
