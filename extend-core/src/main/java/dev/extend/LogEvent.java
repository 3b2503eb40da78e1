package dev.extend;

import java.time.Instant;

/**
 * One line of a container's log: console output written by a webhook during an invocation, or
 * a line the platform writes about the container (level {@value #PLATFORM}, e.g. {@code egress to
 * 10.1.2.3:5432 denied by policy}), which no sandbox can forge.
 *
 * @param time when it was written
 * @param container the container
 * @param webhook the webhook's name, or null for output outside any invocation
 * @param invocationId the invocation's id, or null
 * @param level {@code log}, {@code info}, {@code warn}, {@code error} or {@code debug}; {@code stdout}/{@code stderr} for raw output;
 *     {@value #PLATFORM} for the platform's own lines
 * @param message the text
 */
public record LogEvent(
    Instant time, ContainerName container, String webhook, String invocationId, String level, String message) {
  /** The level of lines the platform writes itself. */
  public static final String PLATFORM = "platform";
}
