package dev.extend;

/**
 * A snapshot of this node's sandboxes.
 *
 * @param targetWarm how many warm sandboxes the pool keeps ready
 * @param warm warm sandboxes waiting for a container
 * @param starting sandboxes being started
 * @param assigned sandboxes assigned to containers
 * @param maxSandboxes the node's cap on sandboxes
 * @param waiting requests waiting for a sandbox
 */
public record PoolStats(int targetWarm, int warm, int starting, int assigned, int maxSandboxes, int waiting) {}
