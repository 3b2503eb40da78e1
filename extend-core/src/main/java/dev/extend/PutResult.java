package dev.extend;

import java.util.List;

/**
 * The answer to a create or update: the webhook as stored, whether it was created, and the
 * build state of each of its modules at the time of the answer.
 *
 * @param webhook the stored webhook
 * @param created true when it did not exist before
 * @param modules the state of each of its modules
 */
public record PutResult(Webhook webhook, boolean created, List<ModuleStatus> modules) {
  /** Copies the list. */
  public PutResult {
    modules = List.copyOf(modules);
  }
}
