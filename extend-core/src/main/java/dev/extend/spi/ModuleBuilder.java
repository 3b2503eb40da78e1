package dev.extend.spi;

import dev.extend.NodeRuntime;
import dev.extend.ModuleRef;
import java.io.IOException;
import java.nio.file.Path;
import java.util.function.Consumer;

/**
 * Builds one npm module@version into a tarball of its whole {@code node_modules} closure.
 *
 * <p>Duties of an implementation:
 * <ol>
 *   <li>Installs exactly {@code module} (name and version) with its dependency closure into an
 *       empty prefix, in the environment the sandboxes run in (same Node and npm; when the
 *       runtime isolates, install scripts run only inside such an environment).
 *   <li>Writes a gzip-compressed tar of the prefix's {@code node_modules/} directory (entries
 *       named {@code node_modules/...}) to {@code output}.
 *   <li>Reports progress line by line through {@code log}.
 *   <li>Ends within its configured timeout and under its size cap, else throws
 *       {@link ModuleBuildException} with the reason; npm failures throw it too, with npm's
 *       output in the log.
 *   <li>Cleans up its working files; may be called concurrently for different modules.
 * </ol>
 */
public interface ModuleBuilder {

  /**
   * Builds a module.
   *
   * @param module the module to build
   * @param runtime the Node.js runtime to build for: the build runs its node and npm, so native
   *     addons are compiled for its ABI
   * @param runtimeDir host directory of that runtime's verified distribution (see {@link
   *     SandboxSpec#runtimeDir()})
   * @param workDir an empty directory the builder may use
   * @param output where to write the tarball
   * @param log receives build output, line by line
   */
  void build(ModuleRef module, NodeRuntime runtime, Path runtimeDir, Path workDir, Path output, Consumer<String> log)
      throws ModuleBuildException, IOException, InterruptedException;

  /**
   * Whether install scripts run isolated from the host. The platform refuses a builder that
   * does not isolate next to a sandbox runtime that does. Default false.
   */
  default boolean isolating() {
    return false;
  }

  /**
   * This builder as a platform whose sandboxes run in {@code runtime} uses it: a builder that was
   * not given a place to run its jobs takes the runtime's ({@link SandboxRuntime#jobRunner()}).
   * Default: this builder as it is.
   */
  default ModuleBuilder forRuntime(SandboxRuntime runtime) {
    return this;
  }

  /** A build that failed for a reason the log explains. */
  final class ModuleBuildException extends Exception {
    private static final long serialVersionUID = 1L;

    /** Creates the error. */
    public ModuleBuildException(String message) {
      super(message);
    }

    /** Creates the error with a cause. */
    public ModuleBuildException(String message, Throwable cause) {
      super(message, cause);
    }
  }
}
