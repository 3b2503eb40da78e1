package dev.extend.modulebuild;

import dev.extend.ModuleRef;
import dev.extend.spi.ModuleBuilder;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.function.Consumer;

/**
 * Runs the real builder, but only once the test opens the gate, so a test can observe the
 * platform while builds are still running without depending on timing. Records every build.
 */
final class GatedBuilder implements ModuleBuilder {
  private final ModuleBuilder real;
  private final CountDownLatch gate = new CountDownLatch(1);
  final List<ModuleRef> builds = new CopyOnWriteArrayList<>();

  GatedBuilder(ModuleBuilder real) {
    this.real = real;
  }

  void open() {
    gate.countDown();
  }

  @Override
  public void build(ModuleRef module, dev.extend.NodeRuntime runtime, Path runtimeDir, Path workDir, Path output,
      Consumer<String> log) throws ModuleBuildException, IOException, InterruptedException {
    builds.add(module);
    gate.await();
    real.build(module, runtime, runtimeDir, workDir, output, log);
  }
}
