package dev.extend.internal.memory;

import dev.extend.ModuleRef;
import dev.extend.spi.BuildJob;
import dev.extend.spi.BuildQueue;
import java.time.Duration;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/** An in-process {@link BuildQueue}. */
public final class InMemoryBuildQueue implements BuildQueue {
  private static final class Entry {
    final long id;
    final ModuleRef module;
    int attempts;
    String owner;
    Instant leaseExpiresAt;

    Entry(long id, ModuleRef module) {
      this.id = id;
      this.module = module;
    }
  }

  private final Map<ModuleRef, Entry> jobs = new LinkedHashMap<>();
  private long nextId = 1;

  @Override
  public synchronized boolean enqueue(ModuleRef module) {
    if (jobs.containsKey(module)) {
      return false;
    }
    jobs.put(module, new Entry(nextId++, module));
    notifyAll();
    return true;
  }

  @Override
  public synchronized Optional<BuildJob> take(String workerId, Duration lease) {
    Instant now = Instant.now();
    for (Entry e : jobs.values()) {
      if (e.owner == null || e.leaseExpiresAt.isBefore(now)) {
        e.owner = workerId;
        e.attempts++;
        e.leaseExpiresAt = now.plus(lease);
        return Optional.of(new BuildJob(e.id, e.module, e.attempts, e.leaseExpiresAt));
      }
    }
    return Optional.empty();
  }

  @Override
  public synchronized boolean renew(BuildJob job, String workerId, Duration lease) {
    Entry e = jobs.get(job.module());
    if (e == null || e.id != job.id() || !workerId.equals(e.owner) || e.attempts != job.attempt()) {
      return false;
    }
    e.leaseExpiresAt = Instant.now().plus(lease);
    return true;
  }

  @Override
  public synchronized void complete(BuildJob job) {
    Entry e = jobs.get(job.module());
    if (e != null && e.id == job.id()) {
      jobs.remove(job.module());
    }
  }

  @Override
  public synchronized int depth() {
    return jobs.size();
  }
}
