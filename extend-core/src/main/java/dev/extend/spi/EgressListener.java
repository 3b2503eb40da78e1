package dev.extend.spi;

import dev.extend.ContainerName;

/**
 * Hears what a runtime's egress enforcement refused. Called from the runtime's own threads; must
 * not block.
 */
@FunctionalInterface
public interface EgressListener {

  /**
   * A connection or a name lookup of a container's sandbox was refused.
   *
   * @param container the container the sandbox served
   * @param sandboxId the sandbox
   * @param destination what was refused, e.g. {@code 10.1.2.3:5432} or {@code db.internal (10.1.2.3)}
   * @param protocol {@code tcp}, {@code udp}, {@code dns} or another protocol's name
   */
  void denied(ContainerName container, String sandboxId, String destination, String protocol);
}
