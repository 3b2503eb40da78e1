package dev.extend.modulebuild;

import dev.extend.ModuleRef;
import dev.extend.ModuleState;
import dev.extend.ModuleStatus;
import dev.extend.ServerlessPlatform;
import java.time.Duration;
import java.util.concurrent.TimeoutException;

/** Waits for module builds in a platform. */
final class PlatformModules {
  private PlatformModules() {}

  /** Waits until the module is READY or FAILED (bounded), and returns its state. */
  static ModuleStatus awaitSettled(ServerlessPlatform platform, ModuleRef module, Duration max) throws Exception {
    long end = System.nanoTime() + max.toNanos();
    while (System.nanoTime() < end) {
      ModuleStatus s = platform.module(module).orElseThrow();
      if (s.state() == ModuleState.READY || s.state() == ModuleState.FAILED) {
        return s;
      }
      Thread.sleep(100);
    }
    throw new TimeoutException(module + " did not settle within " + max + ": " + platform.module(module));
  }
}
