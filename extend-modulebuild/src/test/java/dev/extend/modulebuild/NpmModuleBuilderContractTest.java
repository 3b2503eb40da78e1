package dev.extend.modulebuild;

import dev.extend.spi.ModuleBuilder;
import dev.extend.testing.ModuleBuilderContract;
import java.time.Duration;

/** The npm builder, as local processes, against the module builder contract (offline). */
class NpmModuleBuilderContractTest extends ModuleBuilderContract {
  @Override
  protected ModuleBuilder builder() {
    return NpmModuleBuilder.builder().jobRunner(dev.extend.spi.JobRunner.localProcesses()).registry(registry.url()).timeout(Duration.ofMinutes(2)).build();
  }
}
