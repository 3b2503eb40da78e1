package dev.extend.containerd;

import dev.extend.spi.SandboxRuntime;
import dev.extend.spi.SandboxRuntimeProvider;
import io.grpc.StatusRuntimeException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Offers the {@link ContainerdRuntime} (priority 100) when containerd answers on the socket
 * named by {@code EXTEND_CONTAINERD_SOCKET}, else {@code /run/containerd/containerd.sock}.
 */
public final class ContainerdRuntimeProvider implements SandboxRuntimeProvider {
  private static final Logger LOG = LoggerFactory.getLogger(ContainerdRuntimeProvider.class);
  /** The environment variable naming containerd's socket. */
  public static final String SOCKET_ENV = "EXTEND_CONTAINERD_SOCKET";

  /** Used by {@link java.util.ServiceLoader}. */
  public ContainerdRuntimeProvider() {}

  @Override
  public int priority() {
    return 100;
  }

  @Override
  public Optional<SandboxRuntime> create(Context context) {
    String env = System.getenv(SOCKET_ENV);
    return create(context, Path.of(env == null || env.isBlank() ? "/run/containerd/containerd.sock" : env));
  }

  Optional<SandboxRuntime> create(Context context, Path socket) {
    if (!Files.exists(socket)) {
      LOG.info("containerd runtime not usable: no socket at {} (set {})", socket, SOCKET_ENV);
      return Optional.empty();
    }
    try (ContainerdClient probe = new ContainerdClient(socket, "extend", Duration.ofSeconds(3))) {
      String version = probe.version(Duration.ofSeconds(3));
      LOG.info("containerd {} answers at {}", version, socket);
    } catch (StatusRuntimeException e) {
      LOG.info("containerd runtime not usable: {} does not answer ({})", socket, e.getStatus());
      return Optional.empty();
    }
    return Optional.of(ContainerdRuntime.builder()
        .socket(socket)
        .nodeId(context.nodeId() == null ? "node" : context.nodeId())
        .dataDir(context.dataDir() == null ? Path.of("extend-data") : context.dataDir())
        .build());
  }
}
