package dev.extend.server.internal;

import com.fasterxml.jackson.annotation.JsonProperty;
import java.util.List;
import java.util.Map;

/** Request bodies of the management API, parsed strictly by {@link Json#parse}. */
final class ApiBodies {
  private ApiBodies() {}

  /** {@code PUT .../webhooks/{name}}. */
  record WebhookBody(
      @JsonProperty("code") String code,
      @JsonProperty("dependencies") Map<String, String> dependencies,
      @JsonProperty("secrets") Map<String, String> secrets,
      @JsonProperty("meta") Map<String, String> meta,
      @JsonProperty("limits") LimitsBody limits,
      @JsonProperty("runtime") String runtime) {}

  /** {@code limits} inside a webhook body; each one absent or null takes the platform's default. */
  record LimitsBody(
      @JsonProperty("timeoutMs") Long timeoutMs,
      @JsonProperty("memoryMb") Integer memoryMb) {}

  /** {@code PUT /api/v1/containers/{container}/egress}. */
  record EgressBody(
      @JsonProperty("mode") String mode,
      @JsonProperty("allow") List<String> allow) {}

  /** {@code POST /api/v1/tokens}. */
  record TokenBody(
      @JsonProperty("containers") List<String> containers,
      @JsonProperty("description") String description) {}
}
