package dev.extend.testing;

import dev.extend.spi.SandboxRuntime;
import java.nio.file.Path;

/** The development runtime (plain child processes) against the runtime contract; needs node. */
class LocalProcessRuntimeContractTest extends SandboxRuntimeContract {
  @Override
  protected SandboxRuntime createRuntime() {
    return SandboxRuntime.localProcesses();
  }
}
