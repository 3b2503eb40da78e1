package dev.extend.internal.modules;

import dev.extend.ModuleRef;
import dev.extend.ModuleState;
import dev.extend.spi.Artifact;
import dev.extend.spi.ArtifactStore;
import dev.extend.spi.BuildJob;
import dev.extend.spi.BuildQueue;
import dev.extend.spi.ModuleBuilder;
import dev.extend.spi.ModuleStore;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Consumes the build queue: takes a job, marks the module BUILDING, runs the
 * {@link ModuleBuilder}, stores the tarball in the artifact store and marks the module READY
 * (or FAILED with its log). Leases are renewed while a build runs; a worker that dies leaves
 * its job to be taken again once the lease expires. Runs in-process or in a standalone worker.
 */
public final class BuildWorker implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(BuildWorker.class);
  static final Duration LEASE = Duration.ofSeconds(60);
  static final int MAX_ATTEMPTS = 3;
  static final int LOG_TAIL = 64 * 1024;

  private final BuildQueue queue;
  private final ModuleStore records;
  private final ArtifactStore artifacts;
  private final ModuleBuilder builder;
  private final dev.extend.internal.runtime.Runtimes runtimes;
  private final String workerId;
  private final Path workRoot;
  private final long maxArtifactBytes;
  private final List<Thread> threads = new ArrayList<>();
  private final ScheduledExecutorService renewer;
  private volatile boolean running = true;
  private final Object signal = new Object();

  /**
   * Creates a worker; {@link #start(int)} begins consuming.
   *
   * @param workRoot directory for build work (a sub-directory per build)
   */
  public BuildWorker(BuildQueue queue, ModuleStore records, ArtifactStore artifacts, ModuleBuilder builder,
      dev.extend.internal.runtime.Runtimes runtimes, String workerId, Path workRoot, long maxArtifactBytes) {
    this.runtimes = runtimes;
    this.queue = queue;
    this.records = records;
    this.artifacts = artifacts;
    this.builder = builder;
    this.workerId = workerId;
    this.workRoot = workRoot;
    this.maxArtifactBytes = maxArtifactBytes;
    this.renewer = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "extend-build-lease");
      t.setDaemon(true);
      return t;
    });
  }

  /** Starts {@code threads} consumers. */
  public BuildWorker start(int count) {
    for (int i = 0; i < count; i++) {
      Thread t = new Thread(this::loop, "extend-build-" + i);
      t.setDaemon(true);
      threads.add(t);
      t.start();
    }
    return this;
  }

  /** Wakes idle consumers (a job was just queued on this node). */
  public void wake() {
    synchronized (signal) {
      signal.notifyAll();
    }
  }

  private void loop() {
    while (running) {
      try {
        var job = queue.take(workerId, LEASE);
        if (job.isPresent()) {
          run(job.get());
        } else {
          synchronized (signal) {
            signal.wait(500);
          }
        }
      } catch (InterruptedException e) {
        return;
      } catch (RuntimeException e) {
        // storage outage: back off and try again
        LOG.warn("build queue unavailable: {}", e.getMessage());
        try {
          Thread.sleep(2000);
        } catch (InterruptedException ie) {
          return;
        }
      }
    }
  }

  /** Runs one leased job to its end. */
  void run(BuildJob job) throws InterruptedException {
    ModuleRef m = job.module();
    StringBuilder log = new StringBuilder();
    long[] lastFlush = {System.nanoTime()};
    java.util.function.Consumer<String> sink = line -> {
      synchronized (log) {
        // a registry URL or npm setting in a line may carry credentials: never stored
        log.append(dev.extend.spi.Redact.credentials(line)).append('\n');
        if (log.length() > 2 * LOG_TAIL) {
          log.delete(0, log.length() - LOG_TAIL);
        }
        // progress is visible while the build runs
        if (System.nanoTime() - lastFlush[0] > 1_000_000_000L) {
          lastFlush[0] = System.nanoTime();
          try {
            records.update(m, ModuleState.BUILDING, tail(log), null);
          } catch (RuntimeException e) {
            // progress only
          }
        }
      }
    };
    sink.accept("build of " + m + " on " + workerId + " (attempt " + job.attempt() + ")");
    if (job.attempt() > MAX_ATTEMPTS) {
      sink.accept("giving up: " + (job.attempt() - 1) + " attempts ended without a result");
      finish(job, ModuleState.FAILED, log, null);
      return;
    }
    dev.extend.NodeRuntime runtime = runtimes.forAbi(m.abi()).orElse(null);
    if (runtime == null) {
      sink.accept(m.abi() == 0 ? "this build names no Node.js ABI (queued before runtimes were named); webhooks"
          + " written again queue their modules for their runtime"
          : "no runtime of Node.js ABI " + m.abi() + " is offered by this platform any more");
      finish(job, ModuleState.FAILED, log, null);
      return;
    }
    sink.accept("runtime " + runtime.name() + ": Node.js " + runtime.nodeVersion() + ", npm " + runtime.npmVersion());
    records.update(m, ModuleState.BUILDING, tail(log), null);
    ScheduledFuture<?> renewal = renewer.scheduleAtFixedRate(() -> {
      try {
        if (!queue.renew(job, workerId, LEASE)) {
          LOG.warn("lease of build {} was lost", m);
        }
      } catch (RuntimeException e) {
        LOG.warn("cannot renew lease of build {}: {}", m, e.getMessage());
      }
    }, LEASE.toMillis() / 3, LEASE.toMillis() / 3, TimeUnit.MILLISECONDS);
    Path work = null;
    long t0 = System.nanoTime();
    try {
      work = Files.createDirectories(workRoot).resolve("build-" + job.id() + "-" + System.nanoTime());
      Files.createDirectories(work);
      Path out = work.resolve("module.tgz");
      Path dir = Files.createDirectories(work.resolve("work"));
      builder.build(m, runtime, runtimes.distribution(runtime), dir, out, sink);
      Artifact artifact;
      try (InputStream in = Files.newInputStream(out)) {
        artifact = artifacts.put(in, maxArtifactBytes);
      }
      sink.accept("built in " + (System.nanoTime() - t0) / 1_000_000 + " ms: " + artifact.size()
          + " bytes, sha256 " + artifact.digest());
      finish(job, ModuleState.READY, log, artifact);
    } catch (ModuleBuilder.ModuleBuildException e) {
      sink.accept("build failed: " + e.getMessage());
      finish(job, ModuleState.FAILED, log, null);
    } catch (IOException | RuntimeException e) {
      // The build log is tenant-visible: the cause (paths, host details) goes to the platform's log.
      LOG.warn("build of {} failed on this node (attempt {})", job.module(), job.attempt(), e);
      sink.accept("build error on the platform's side (attempt " + job.attempt() + "); the operator's log has the cause");
      if (job.attempt() >= MAX_ATTEMPTS) {
        finish(job, ModuleState.FAILED, log, null);
      } else {
        // leave the job leased: it is taken again when the lease expires
        try {
          records.update(m, ModuleState.QUEUED, tail(log), null);
        } catch (RuntimeException ignored) {
          // the record keeps BUILDING until a worker takes the job again
        }
      }
    } finally {
      renewal.cancel(false);
      if (work != null) {
        dev.extend.internal.FileTrees.deleteTree(work);
      }
    }
  }

  private void finish(BuildJob job, ModuleState state, StringBuilder log, Artifact artifact) {
    String text;
    synchronized (log) {
      text = tail(log);
    }
    records.update(job.module(), state, text, artifact);
    queue.complete(job);
    LOG.info("module {} {}", job.module(), state.wire());
  }

  private static String tail(StringBuilder log) {
    return log.length() <= LOG_TAIL ? log.toString() : log.substring(log.length() - LOG_TAIL);
  }

  @Override
  public void close() {
    running = false;
    threads.forEach(Thread::interrupt);
    renewer.shutdownNow();
  }
}
