package dev.extend;

/**
 * What one container's sandboxes sent and received outside, on one node, since the node
 * started.
 *
 * @param connections outbound connections the policy let through
 * @param bytesOut bytes sent (IP packets, headers included)
 * @param bytesIn bytes received on those connections
 * @param denials connections (and name lookups) the policy refused
 */
public record EgressCounters(long connections, long bytesOut, long bytesIn, long denials) {
  /** Nothing yet. */
  public static final EgressCounters ZERO = new EgressCounters(0, 0, 0, 0);

  /** The sum of both. */
  public EgressCounters plus(EgressCounters o) {
    return new EgressCounters(connections + o.connections, bytesOut + o.bytesOut, bytesIn + o.bytesIn,
        denials + o.denials);
  }
}
