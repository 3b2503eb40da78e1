package dev.extend.spi;

import java.nio.file.Path;
import java.util.Optional;

/**
 * Found through {@link java.util.ServiceLoader} when no runtime is given to the builder: each
 * provider says whether its runtime is usable here. The usable provider with the highest
 * {@link #priority()} wins, and the platform logs which.
 */
public interface SandboxRuntimeProvider {

  /** Settings a provider may use. */
  record Context(String nodeId, Path dataDir) {}

  /** Higher wins. The local runtime has priority 0. */
  int priority();

  /** The runtime when usable here, else empty (and the reason is logged by the provider). */
  Optional<SandboxRuntime> create(Context context);
}
