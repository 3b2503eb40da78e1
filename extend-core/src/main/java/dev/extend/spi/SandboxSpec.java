package dev.extend.spi;

import dev.extend.NodeRuntime;
import java.nio.file.Path;
import java.util.Objects;
import java.util.function.Consumer;

/**
 * What the platform asks a {@link SandboxRuntime} to start: a generic sandbox that runs the
 * sandbox agent, not yet bound to any container.
 *
 * <p>Host layout prepared by the platform before {@link SandboxRuntime#start}:
 * <pre>
 * directory/
 *   code/     the container's code, written by the platform (read-only inside the sandbox)
 *   sock/     the only host path the sandbox may write: the agent creates agent.sock here
 * agentDir/   agent.js and its files (read-only)
 * moduleStore/ the shared module store (read-only)
 * </pre>
 *
 * @param id unique sandbox id: letters, digits, '-', '_' and '.', at most 64 characters
 * @param directory the sandbox's host directory (contains {@code code/} and {@code sock/})
 * @param agentDir host directory holding {@code agent.js}
 * @param moduleStore host directory of the module store
 * @param limits resource limits
 * @param output receives the sandbox's stdout and stderr, line by line (no line terminator)
 * @param runtime the Node.js runtime the sandbox runs
 * @param runtimeDir host directory of that runtime's verified distribution ({@code bin/node},
 *     {@code lib/node_modules/npm}, {@code include/node}), read-only: the runtime builds the
 *     sandbox's Node from it, never from the host's own
 */
public record SandboxSpec(
    String id, Path directory, Path agentDir, Path moduleStore, SandboxLimits limits, Consumer<String> output,
    NodeRuntime runtime, Path runtimeDir) {

  /** Checks fields. */
  public SandboxSpec {
    Objects.requireNonNull(id, "id");
    if (!id.matches("[A-Za-z0-9][A-Za-z0-9._-]{0,63}")) {
      throw new IllegalArgumentException("invalid sandbox id: " + id);
    }
    Objects.requireNonNull(directory, "directory");
    Objects.requireNonNull(agentDir, "agentDir");
    Objects.requireNonNull(moduleStore, "moduleStore");
    Objects.requireNonNull(limits, "limits");
    Objects.requireNonNull(output, "output");
    Objects.requireNonNull(runtime, "runtime");
    Objects.requireNonNull(runtimeDir, "runtimeDir");
  }

  /** Host directory of the container's code. */
  public Path codeDir() {
    return directory.resolve("code");
  }

  /** Host directory of the agent's socket. */
  public Path socketDir() {
    return directory.resolve("sock");
  }

  /** Host path of the agent's Unix domain socket. */
  public Path socket() {
    return socketDir().resolve("agent.sock");
  }
}
