package dev.extend.internal.runtime;

import dev.extend.spi.JobRunner;
import dev.extend.spi.Sandbox;
import dev.extend.spi.SandboxExit;
import dev.extend.spi.SandboxRuntime;
import dev.extend.spi.SandboxSpec;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * The development runtime: every sandbox is a plain {@code node} child process of the JVM.
 * It does NOT isolate tenants from each other or from the host: the platform warns loudly
 * whenever it is in use.
 */
public final class LocalProcessRuntime implements SandboxRuntime {
  private final Set<LocalSandbox> live = ConcurrentHashMap.newKeySet();

  /** A runtime starting each sandbox as a child process of its runtime's {@code node}. */
  public LocalProcessRuntime() {}

  @Override
  public String name() {
    return "local";
  }

  @Override
  public boolean isolating() {
    return false;
  }

  @Override
  public String problem() {
    return null;
  }

  @Override
  public Sandbox start(SandboxSpec spec) throws IOException {
    Path node = spec.runtimeDir().resolve("bin/node");
    if (!Files.isExecutable(node)) {
      throw new IOException("runtime " + spec.runtime().name() + " has no executable " + node);
    }
    int heapMb = Math.max(16, spec.limits().memoryMb() * 3 / 4);
    ProcessBuilder pb = new ProcessBuilder(List.of(
        node.toString(),
        "--max-old-space-size=" + heapMb,
        spec.agentDir().resolve("agent.js").toString(),
        "--socket", spec.socket().toString(),
        "--code", spec.codeDir().toString(),
        "--modules", spec.moduleStore().toString()));
    pb.redirectErrorStream(true);
    pb.directory(spec.codeDir().toFile());
    cleanEnvironment(pb.environment(), Map.of());
    Process p = pb.start();
    LocalSandbox s = new LocalSandbox(spec, p);
    live.add(s);
    s.exit.whenComplete((e, t) -> live.remove(s));
    OutputLines.start(p.getInputStream(), spec.output(), "extend-out-" + spec.id());
    return s;
  }

  /** Leaves only a minimal environment: nothing of the platform's reaches tenant code. */
  static void cleanEnvironment(Map<String, String> env, Map<String, String> extra) {
    String path = env.getOrDefault("PATH", "/usr/local/bin:/usr/bin:/bin");
    env.clear();
    env.put("PATH", path);
    env.put("HOME", System.getProperty("java.io.tmpdir"));
    env.put("NODE_ENV", "production");
    env.putAll(extra);
  }

  @Override
  public Optional<JobRunner> jobRunner() {
    return Optional.of(new LocalJobRunner());
  }

  @Override
  public void close() {
    for (LocalSandbox s : List.copyOf(live)) {
      s.destroy(Duration.ofMillis(500));
    }
  }

  private static final class LocalSandbox implements Sandbox {
    private final SandboxSpec spec;
    private final Process process;
    final CompletableFuture<SandboxExit> exit;

    LocalSandbox(SandboxSpec spec, Process process) {
      this.spec = spec;
      this.process = process;
      this.exit = process.onExit().thenApply(p -> {
        int status = p.exitValue();
        return new SandboxExit(status, false, status == 0 ? "exited" : "exited with status " + status);
      });
    }

    @Override
    public String id() {
      return spec.id();
    }

    @Override
    public SandboxSpec spec() {
      return spec;
    }

    @Override
    public String moduleStorePath() {
      return spec.moduleStore().toString();
    }

    @Override
    public String codePath() {
      return spec.codeDir().toString();
    }

    @Override
    public CompletableFuture<SandboxExit> exit() {
      return exit;
    }

    @Override
    public void destroy(Duration grace) {
      List<ProcessHandle> children = process.descendants().toList();
      process.destroy();
      try {
        if (!process.waitFor(grace.toMillis(), TimeUnit.MILLISECONDS)) {
          process.destroyForcibly();
          process.waitFor(5, TimeUnit.SECONDS);
        }
      } catch (InterruptedException e) {
        process.destroyForcibly();
        Thread.currentThread().interrupt();
      }
      children.forEach(ProcessHandle::destroyForcibly);
    }
  }
}
