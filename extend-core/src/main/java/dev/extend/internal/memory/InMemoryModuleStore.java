package dev.extend.internal.memory;

import dev.extend.ModuleRef;
import dev.extend.ModuleState;
import dev.extend.NotFoundException;
import dev.extend.Page;
import dev.extend.internal.Cursors;
import dev.extend.spi.Artifact;
import dev.extend.spi.ModuleRecord;
import dev.extend.spi.ModuleStore;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ConcurrentSkipListMap;

/** A {@link ModuleStore} in memory. */
public final class InMemoryModuleStore implements ModuleStore {
  /** Logs keep at most this many trailing characters. */
  static final int MAX_LOG = 64 * 1024;

  // Keyed by ModuleRef: ordered by name, then version (a "name@version" string would put "a-b" before "a").
  private final ConcurrentSkipListMap<ModuleRef, ModuleRecord> records = new ConcurrentSkipListMap<>();

  private static ModuleRef key(ModuleRef m) {
    return m;
  }

  @Override
  public Optional<ModuleRecord> get(ModuleRef module) {
    return Optional.ofNullable(records.get(key(module)));
  }

  @Override
  public boolean createIfAbsent(ModuleRef module) {
    return records.putIfAbsent(key(module), new ModuleRecord(module, ModuleState.QUEUED, "", null, Instant.now())) == null;
  }

  @Override
  public void update(ModuleRef module, ModuleState state, String log, Artifact artifact) {
    String tail = log == null ? "" : log.length() > MAX_LOG ? log.substring(log.length() - MAX_LOG) : log;
    ModuleRecord r = new ModuleRecord(module, state, tail, artifact, Instant.now());
    if (records.replace(key(module), r) == null) {
      throw new NotFoundException("module " + module + " has no record");
    }
  }

  @Override
  public Page<ModuleRecord> list(int limit, String cursor) {
    Cursors.checkLimit(limit);
    String decoded = Cursors.decode(cursor);
    ModuleRef after;
    try {
      int colon = decoded == null ? -1 : decoded.indexOf(':');
      after = decoded == null ? null
          : ModuleRef.parse(decoded.substring(colon + 1)).forAbi(Integer.parseInt(decoded.substring(0, colon)));
    } catch (dev.extend.ValidationException | IndexOutOfBoundsException | NumberFormatException e) {
      throw new dev.extend.ValidationException("cursor", "is not a cursor this API returned");
    }
    List<ModuleRecord> items = new ArrayList<>();
    var view = after == null ? records : records.tailMap(after, false);
    boolean more = false;
    for (var e : view.entrySet()) {
      if (items.size() == limit) {
        more = true;
        break;
      }
      items.add(e.getValue());
    }
    ModuleRef last = more ? items.get(items.size() - 1).module() : null;
    return new Page<>(items, more ? Cursors.encode(last.abi() + ":" + last.spec()) : null);
  }
}
