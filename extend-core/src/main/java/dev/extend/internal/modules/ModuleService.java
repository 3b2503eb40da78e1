package dev.extend.internal.modules;

import dev.extend.ModuleRef;
import dev.extend.ModuleState;
import dev.extend.ModuleStatus;
import dev.extend.NotFoundException;
import dev.extend.Page;
import dev.extend.spi.BuildQueue;
import dev.extend.spi.ModuleRecord;
import dev.extend.spi.ModuleStore;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Module provisioning on the management side: queues a build for every module not yet
 * built (once per platform, whoever asks) and answers module states.
 */
public final class ModuleService {
  private final ModuleStore records;
  private final BuildQueue queue;
  /** READY is final (artifacts are immutable), so READY records are cached for good. */
  private final Map<ModuleRef, ModuleRecord> ready = new ConcurrentHashMap<>();

  /** A service over the given stores. */
  public ModuleService(ModuleStore records, BuildQueue queue) {
    this.records = records;
    this.queue = queue;
  }

  /** Modules this node queued for each container that were not built yet when last looked at. */
  private final Map<dev.extend.ContainerName, java.util.Set<ModuleRef>> pending = new ConcurrentHashMap<>();

  /**
   * As {@link #ensure(List)}, for a webhook of {@code container}: refuses (429) when the
   * container's builds queued through this node and not finished, with the new ones this would
   * queue, would exceed {@code maxPending}. Nothing is queued when it refuses.
   */
  public List<ModuleStatus> ensure(List<ModuleRef> modules, dev.extend.ContainerName container, int maxPending) {
    // Each module's record is read once here, and used for the answer below.
    Map<ModuleRef, ModuleRecord> known = new java.util.HashMap<>();
    List<ModuleRef> unknown = new ArrayList<>();
    for (ModuleRef m : modules) {
      Optional<ModuleRecord> r = record(m);
      if (r.isPresent()) {
        known.put(m, r.get());
      } else {
        unknown.add(m);
      }
    }
    if (!unknown.isEmpty()) {
      synchronized (pending) {
        java.util.Set<ModuleRef> mine = pending.computeIfAbsent(container, c -> new java.util.HashSet<>());
        mine.removeIf(m -> record(m).map(r -> r.state() == ModuleState.READY || r.state() == ModuleState.FAILED)
            .orElse(true));
        if (mine.size() + unknown.size() > maxPending) {
          throw new dev.extend.TooManyRequestsException("container " + container + " has " + mine.size()
              + " module builds under way and this would add " + unknown.size() + ", more than"
              + " maxQueuedBuildsPerContainer (" + maxPending + "); retry once they are built", 30);
        }
        mine.addAll(unknown);
        if (mine.isEmpty()) {
          pending.remove(container);
        }
      }
    }
    List<ModuleStatus> out = new ArrayList<>(modules.size());
    for (ModuleRef m : modules) {
      ModuleRecord r = known.get(m);
      out.add(r != null ? r.status() : queue(m).status());
    }
    return out;
  }

  /** Queues builds of modules never asked for, and answers the state of each. */
  public List<ModuleStatus> ensure(List<ModuleRef> modules) {
    List<ModuleStatus> out = new ArrayList<>(modules.size());
    for (ModuleRef m : modules) {
      ModuleRecord r = record(m).orElse(null);
      out.add((r != null ? r : queue(m)).status());
    }
    return out;
  }

  /** Records a module never asked for and queues its build, once even when asked at once. */
  private ModuleRecord queue(ModuleRef m) {
    if (records.createIfAbsent(m)) {
      queue.enqueue(m);
    }
    return records.get(m).orElseThrow();
  }

  /** The current record of each module (READY ones from the cache), queueing unknown ones. */
  public List<ModuleRecord> records(List<ModuleRef> modules) {
    List<ModuleRecord> out = new ArrayList<>(modules.size());
    for (ModuleRef m : modules) {
      ModuleRecord r = record(m).orElse(null);
      if (r == null) {
        ensure(List.of(m));
        r = record(m).orElseThrow();
      }
      out.add(r);
    }
    return out;
  }

  /**
   * The records of {@code modules} when every one is known to be ready, from memory only;
   * null when any is not (the caller takes the path that may ask the store).
   */
  public List<ModuleRecord> readyFromMemory(List<ModuleRef> modules, int abi) {
    if (modules.isEmpty()) {
      return List.of();
    }
    List<ModuleRecord> out = new ArrayList<>(modules.size());
    for (ModuleRef m : modules) {
      ModuleRecord r = ready.get(m.forAbi(abi));
      if (r == null) {
        return null;
      }
      out.add(r);
    }
    return out;
  }

  private Optional<ModuleRecord> record(ModuleRef m) {
    ModuleRecord r = ready.get(m);
    if (r != null) {
      return Optional.of(r);
    }
    Optional<ModuleRecord> stored = records.get(m);
    stored.filter(x -> x.state() == ModuleState.READY).ifPresent(x -> ready.put(m, x));
    return stored;
  }

  /** A module's state, or empty when nothing asked for it. */
  public Optional<ModuleStatus> status(ModuleRef m) {
    return record(m).map(ModuleRecord::status);
  }

  /** One page of module states. */
  public Page<ModuleStatus> list(int limit, String cursor) {
    Page<ModuleRecord> p = records.list(limit, cursor);
    return new Page<>(p.items().stream().map(ModuleRecord::status).toList(), p.nextCursor());
  }

  /** Queues a failed module again. */
  public ModuleStatus retry(ModuleRef m) {
    ModuleRecord r = records.get(m).orElseThrow(() -> new NotFoundException("module " + m + " was never requested"));
    if (r.state() == ModuleState.FAILED) {
      records.update(m, ModuleState.QUEUED, r.log() + "\n--- retry requested ---\n", null);
      queue.enqueue(m);
      return new ModuleStatus(m, ModuleState.QUEUED, r.log());
    }
    return r.status();
  }

  /** Jobs queued or running. */
  public int queueDepth() {
    return queue.depth();
  }
}
