package dev.extend;

import dev.extend.spi.EgressListener;
import dev.extend.spi.Sandbox;
import dev.extend.spi.SandboxExit;
import dev.extend.spi.SandboxLimits;
import dev.extend.spi.SandboxRuntime;
import dev.extend.spi.SandboxSpec;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.stream.Stream;

/**
 * The local runtime, claiming to enforce egress: it records every {@link Sandbox#egress} call
 * (and whether the sandbox's code directory held any file then), and fails them on demand.
 */
final class EgressRecordingRuntime implements SandboxRuntime {

  /** One call of {@code egress}. */
  record Applied(String sandboxId, ContainerName container, EgressPolicy policy, boolean codePresent, long nanos) {}

  private final SandboxRuntime local = SandboxRuntime.localProcesses();
  final List<Applied> applied = new CopyOnWriteArrayList<>();
  /** Sandboxes destroyed with code files in them (ids). */
  final List<String> destroyedWithCode = new CopyOnWriteArrayList<>();
  volatile boolean fail;
  volatile EgressListener listener;

  @Override
  public String name() {
    return "recording";
  }

  @Override
  public boolean isolating() {
    return false;
  }

  @Override
  public boolean enforcesEgress() {
    return true;
  }

  @Override
  public void egressListener(EgressListener l) {
    this.listener = l;
  }

  @Override
  public void recover() throws IOException {
    local.recover();
  }

  @Override
  public String problem() {
    return local.problem();
  }

  @Override
  public Sandbox start(SandboxSpec spec) throws IOException {
    Sandbox s = local.start(spec);
    return new Sandbox() {
      @Override
      public String id() {
        return s.id();
      }

      @Override
      public SandboxSpec spec() {
        return s.spec();
      }

      @Override
      public String moduleStorePath() {
        return s.moduleStorePath();
      }

      @Override
      public String codePath() {
        return s.codePath();
      }

      @Override
      public void seal() throws IOException {
        s.seal();
      }

      @Override
      public CompletableFuture<SandboxExit> exit() {
        return s.exit();
      }

      @Override
      public void updateLimits(SandboxLimits limits) {
        s.updateLimits(limits);
      }

      @Override
      public void egress(ContainerName container, EgressPolicy policy) throws IOException {
        applied.add(new Applied(s.id(), container, policy, hasFiles(spec.codeDir()), System.nanoTime()));
        if (fail) {
          throw new IOException("test: cannot apply");
        }
      }

      @Override
      public void destroy(Duration grace) {
        if (hasFiles(spec.codeDir())) {
          destroyedWithCode.add(s.id());
        }
        s.destroy(grace);
      }
    };
  }

  static boolean hasFiles(Path dir) {
    if (!Files.isDirectory(dir)) {
      return false;
    }
    try (Stream<Path> all = Files.walk(dir)) {
      return all.anyMatch(Files::isRegularFile);
    } catch (IOException e) {
      return false;
    }
  }

  /** The calls for {@code container}, oldest first. */
  List<Applied> appliedTo(String container) {
    return applied.stream().filter(a -> a.container().value().equals(container)).toList();
  }

  @Override
  public void close() {
    local.close();
  }
}
