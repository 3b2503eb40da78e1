package dev.extend;

import java.time.Instant;

/**
 * One line of console output written by a webhook during an invocation.
 *
 * @param time when it was written
 * @param container the container
 * @param webhook the webhook's name, or null for output outside any invocation
 * @param invocationId the invocation's id, or null
 * @param level {@code log}, {@code info}, {@code warn}, {@code error} or {@code debug}; {@code stdout}/{@code stderr} for raw output
 * @param message the text
 */
public record LogEvent(
    Instant time, ContainerName container, String webhook, String invocationId, String level, String message) {}
