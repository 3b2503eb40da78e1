package dev.extend.spi;

/**
 * A stored blob, addressed by the sha256 of its content.
 *
 * @param digest lower-case hex sha256 of the content
 * @param size size in bytes
 */
public record Artifact(String digest, long size) {}
