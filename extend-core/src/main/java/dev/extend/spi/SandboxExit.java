package dev.extend.spi;

/**
 * How a sandbox ended.
 *
 * @param status the exit status of its main process (128 + signal when killed), or -1 when unknown
 * @param oomKilled whether the kernel killed it for exceeding its memory limit
 * @param reason short human-readable description
 */
public record SandboxExit(int status, boolean oomKilled, String reason) {}
