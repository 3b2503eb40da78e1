package dev.extend;

import java.util.Objects;

/**
 * The build state of one module, with the tail of its build log (empty when none).
 *
 * @param module the module
 * @param state its state
 * @param log the build log, or its tail, credentials masked; never null
 */
public record ModuleStatus(ModuleRef module, ModuleState state, String log) {
  /** Checks fields; credentials in the log are masked ({@link dev.extend.spi.Redact}). */
  public ModuleStatus {
    Objects.requireNonNull(module, "module");
    Objects.requireNonNull(state, "state");
    log = log == null ? "" : dev.extend.spi.Redact.credentials(log);
  }
}
