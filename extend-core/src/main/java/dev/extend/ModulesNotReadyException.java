package dev.extend;

import java.util.List;

/**
 * The webhook's npm modules are not all built yet (or a build failed), so it cannot run (409).
 * {@link #modules()} lists the state of each of its modules.
 */
public class ModulesNotReadyException extends ExtendException {
  private static final long serialVersionUID = 1L;
  private final transient List<ModuleStatus> modules;

  /** Creates the error for the given module states. */
  public ModulesNotReadyException(WebhookRef webhook, List<ModuleStatus> modules) {
    super("modules_not_ready", 409, webhook + ": modules not ready: " + summary(modules));
    this.modules = List.copyOf(modules);
  }

  /** The state of every module the webhook depends on. */
  public List<ModuleStatus> modules() {
    return modules;
  }

  private static String summary(List<ModuleStatus> modules) {
    StringBuilder sb = new StringBuilder();
    for (ModuleStatus m : modules) {
      if (m.state() == ModuleState.READY) {
        continue;
      }
      if (sb.length() > 0) {
        sb.append(", ");
      }
      sb.append(m.module()).append(' ').append(m.state().wire());
    }
    return sb.toString();
  }
}
