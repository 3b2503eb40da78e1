/**
 * The embedded HTTP server of Extend and the standalone server program.
 *
 * <p>{@link dev.extend.server.ExtendServer} serves one {@link dev.extend.ServerlessPlatform}:
 * <ul>
 *   <li>{@code ANY /run/{container}/{webhook}[/{rest}]}: runs the webhook. Method, rest of the
 *       path, query, headers (hop-by-hop ones and {@code Host} dropped; {@code X-Forwarded-For},
 *       {@code -Proto} and {@code -Host} added) and the streamed body are passed on; the answer
 *       streams back. Bodies over the platform's limit are refused with 413, also when a chunked
 *       body grows past it midway.
 *   <li>{@code /api/v1/...}: the management API, described by {@code GET /api/v1/openapi.json}.
 *       {@code Authorization: Bearer <token>}: the configured admin token, or a token issued
 *       by the platform (admin, or scoped to containers).
 *   <li>{@code /healthz}, {@code /readyz}, {@code /metrics} (Prometheus text).
 * </ul>
 *
 * <p>Every error, the server's own included, is {@code {"error":{"code","message"}}} with the
 * status of its kind. {@link dev.extend.server.Main} is the standalone server, configured by a
 * properties file and environment variables.
 */
package dev.extend.server;
