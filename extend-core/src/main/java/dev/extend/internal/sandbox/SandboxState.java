package dev.extend.internal.sandbox;

/** The life of a sandbox on this node. */
public enum SandboxState {
  /** The runtime is starting it; the agent is not answering yet. */
  STARTING,
  /** Running the agent, waiting in the pool for a container. */
  WARM,
  /** Bound to one container for the rest of its life. */
  ASSIGNED,
  /** Being destroyed (idle, timed out, shut down); takes no new invocations. */
  DRAINING,
  /** Ended. */
  DEAD
}
