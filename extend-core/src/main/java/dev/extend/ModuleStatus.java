package dev.extend;

import java.util.Objects;

/**
 * The build state of one module, with the tail of its build log (empty when none).
 *
 * @param module the module
 * @param state its state
 * @param log the build log, or its tail; never null
 */
public record ModuleStatus(ModuleRef module, ModuleState state, String log) {
  /** Checks fields. */
  public ModuleStatus {
    Objects.requireNonNull(module, "module");
    Objects.requireNonNull(state, "state");
    log = log == null ? "" : log;
  }
}
