package dev.extend.spi;

import dev.extend.ModuleRef;
import dev.extend.ModuleState;
import dev.extend.ModuleStatus;
import java.time.Instant;

/**
 * The build record of a module.
 *
 * @param module the module
 * @param state its state
 * @param log its build log (a store may keep only the tail)
 * @param artifact its tarball when {@code READY}, else null
 * @param updatedAt when the record last changed
 */
public record ModuleRecord(ModuleRef module, ModuleState state, String log, Artifact artifact, Instant updatedAt) {

  /** Masks credentials in the log ({@link Redact}), whatever wrote it. */
  public ModuleRecord {
    log = Redact.credentials(log);
  }

  /** The public view of this record. */
  public ModuleStatus status() {
    return new ModuleStatus(module, state, log);
  }
}
