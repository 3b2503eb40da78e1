package dev.extend.testing;

import dev.extend.NodeRuntime;
import dev.extend.internal.runtime.NodeDistributions;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;

/**
 * The pinned Node.js runtimes for tests, fetched and verified once into a directory shared by
 * every test and test run: the system property {@code extend.runtimesDir} (the build sets it),
 * else {@code /var/cache/extend-test/runtimes}.
 */
public final class TestRuntimes {
  private static final NodeDistributions DISTRIBUTIONS = new NodeDistributions(dir(), null, null);

  private TestRuntimes() {}

  /** Where the runtimes are kept. */
  public static Path dir() {
    String p = System.getProperty("extend.runtimesDir");
    return Path.of(p != null && !p.isBlank() ? p : "/var/cache/extend-test/runtimes");
  }

  /** The built-in runtime of that name. */
  public static NodeRuntime runtime(String name) {
    return NodeRuntime.BUILT_IN.stream().filter(r -> r.name().equals(name)).findFirst()
        .orElseThrow(() -> new IllegalArgumentException("no built-in runtime " + name));
  }

  /** The platform's default runtime. */
  public static NodeRuntime runtime() {
    return runtime(NodeRuntime.DEFAULT);
  }

  /** The verified distribution of {@code runtime}, fetched the first time. */
  public static Path distribution(NodeRuntime runtime) {
    try {
      return DISTRIBUTIONS.ensure(runtime);
    } catch (IOException e) {
      throw new UncheckedIOException("runtime " + runtime.name() + " for tests: " + e.getMessage(), e);
    }
  }

  /** The verified distribution of the default runtime. */
  public static Path distribution() {
    return distribution(runtime());
  }
}
