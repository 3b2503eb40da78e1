package dev.extend.containerd;

import com.google.protobuf.Any;
import com.google.protobuf.ByteString;
import dev.extend.containerd.internal.api.ContainersApi;
import dev.extend.containerd.internal.api.TasksApi;
import dev.extend.spi.SandboxExit;
import dev.extend.spi.SandboxLimits;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One containerd container with its task: created, started, watched until it exits, and
 * released (task and container deleted, output file and mounts removed, uid given back).
 * Shared by sandboxes and jobs.
 *
 * <p>Host state of a task, under its state directory: {@code passwd} and {@code group} naming
 * its uid (bound read-only into it), {@code output/} (a small tmpfs of the task's own, holding
 * {@code output.log}, which the shim appends stdout and stderr to), and the record of its
 * socket-directory mount.
 */
final class ContainerdTask {
  private static final Logger LOG = LoggerFactory.getLogger(ContainerdTask.class);
  static final String SPEC_TYPE = "types.containerd.io/opencontainers/runtime-spec/1/Spec";
  static final String RESOURCES_TYPE = "types.containerd.io/opencontainers/runtime-spec/1/LinuxResources";
  static final String RUNC = "io.containerd.runc.v2";
  static final int SIGKILL = 9;
  static final int SIGTERM = 15;

  private final ContainerdRuntime runtime;
  final String containerId;
  final String cgroupsPath;
  final Path stateDir;
  final Path outputDir;
  final Path outputFile;
  /** The task's own uid (and gid), from the runtime's range. */
  final int uid;
  /** The task's place on the sandbox network, released with it (null: loopback only). */
  volatile SandboxNetwork.Attachment attachment;
  private final CompletableFuture<SandboxExit> exit = new CompletableFuture<>();
  private final CompletableFuture<Void> released = new CompletableFuture<>();
  private final AtomicBoolean releasing = new AtomicBoolean();
  private volatile boolean oomSeen;
  private volatile boolean killedByUs;
  private volatile long endedAt;
  /** A host directory given its own small tmpfs for the task's lifetime, or null. */
  private volatile Path tmpfsMount;
  private volatile boolean outputMounted;
  /** Set when containerd could not confirm that the task is gone: its uid is not given back. */
  private volatile boolean processesMayRemain;
  private final AtomicBoolean uidReturned = new AtomicBoolean();

  ContainerdTask(ContainerdRuntime runtime, String containerId, String cgroupsPath, Path stateDir, int uid) {
    this.runtime = runtime;
    this.containerId = containerId;
    this.cgroupsPath = cgroupsPath;
    this.stateDir = stateDir;
    this.outputDir = stateDir.resolve("output");
    this.outputFile = outputDir.resolve("output.log");
    this.uid = uid;
  }

  /** Who the task runs as; its passwd and group files are written to the state directory at start. */
  OciSpecs.Identity identity() {
    return new OciSpecs.Identity(uid, stateDir);
  }

  /**
   * Gives the task's uid back to the runtime, once: when the task never started, or when it was
   * released and containerd confirmed it gone.
   */
  void returnUid() {
    if (processesMayRemain) {
      LOG.warn("uid {} of {} stays taken: containerd did not confirm that its processes are gone", uid,
          containerId);
      return;
    }
    if (uidReturned.compareAndSet(false, true)) {
      runtime.uids().release(uid);
    }
  }

  CompletableFuture<SandboxExit> exit() {
    return exit;
  }

  /** Whether the process ended before {@code nanoTime} and the task is not being released. */
  boolean endedBefore(long nanoTime) {
    long at = endedAt;
    return at != 0 && at - nanoTime < 0 && !releasing.get();
  }

  /**
   * Creates container and task, watches for the exit, and starts the process.
   *
   * @param socketDir when not null, a host directory to cover with a small tmpfs first
   */
  void start(OciSpecs.Input spec, Map<String, String> labels, Consumer<String> output, Path socketDir)
      throws IOException {
    start(spec, labels, output, socketDir, pid -> {});
  }

  /** Host-side preparation between task creation and start, given the task's pid (e.g. its network). */
  interface BeforeStart {
    void prepare(int pid) throws IOException;
  }

  /** As {@link #start(OciSpecs.Input, Map, Consumer, Path)}, running {@code beforeStart} once the task exists. */
  void start(OciSpecs.Input spec, Map<String, String> labels, Consumer<String> output, Path socketDir,
      BeforeStart beforeStart) throws IOException {
    if (spec.identity().uid() != uid) {
      throw new IllegalArgumentException("the spec of " + containerId + " names uid " + spec.identity().uid()
          + ", the task holds " + uid);
    }
    byte[] specJson = OciSpecs.toJson(spec);
    ContainerdClient client = runtime.client();
    // Registered before anything exists, so that reconciliation never takes it for a leftover.
    runtime.register(this);
    try {
      Files.createDirectories(stateDir);
      writeIdentity(spec);
      // The output tmpfs sits at a fixed place under the state directory: the sweep finds it there.
      Files.createDirectories(outputDir);
      HostMounts.mountOutputDir(outputDir, runtime.outputDirBytes());
      outputMounted = true;
      if (socketDir != null) {
        // Recorded first, so recover() can undo it after a crash.
        Files.writeString(stateDir.resolve(HostMounts.MARKER), socketDir.toAbsolutePath().toString());
        HostMounts.mountSocketDir(socketDir, uid);
        tmpfsMount = socketDir;
      }
    } catch (IOException | RuntimeException e) {
      unmountAll();
      runtime.forget(this);
      RootfsAssembler.deleteTree(stateDir);
      throw e;
    }
    boolean containerCreated = false;
    try {
      client.containers().create(ContainersApi.CreateContainerRequest.newBuilder()
          .setContainer(ContainersApi.Container.newBuilder()
              .setId(containerId)
              .putAllLabels(labels)
              .setRuntime(ContainersApi.Container.Runtime.newBuilder().setName(RUNC))
              .setSpec(Any.newBuilder().setTypeUrl(SPEC_TYPE).setValue(ByteString.copyFrom(specJson))))
          .build());
      containerCreated = true;
      String stdio = "file://" + outputFile.toAbsolutePath();
      int pid = client.tasks().create(TasksApi.CreateTaskRequest.newBuilder()
          .setContainerId(containerId).setStdout(stdio).setStderr(stdio).setTerminal(false).build()).getPid();
      runtime.tailer().follow(outputFile, output);
      awaitExit(0);
      try {
        beforeStart.prepare(pid);
      } catch (IOException | RuntimeException e) {
        release(Duration.ZERO);
        throw e;
      }
      client.tasks().start(TasksApi.StartRequest.newBuilder().setContainerId(containerId).build());
    } catch (StatusRuntimeException e) {
      IOException failure = new IOException("containerd could not start " + containerId + ": "
          + e.getStatus().getCode() + " " + e.getStatus().getDescription(), e);
      try {
        if (containerCreated) {
          release(Duration.ZERO);
        } else {
          unmountAll();
          runtime.forget(this);
          RootfsAssembler.deleteTree(stateDir);
        }
      } catch (RuntimeException cleanup) {
        failure.addSuppressed(cleanup);
      }
      throw failure;
    }
  }

  /**
   * Asks containerd to report the exit of the task (Wait). Repeated with backoff while the
   * daemon is away (a restart of containerd leaves the task running under its shim).
   */
  private void awaitExit(int attempt) {
    if (exit.isDone() || released.isDone()) {
      return;
    }
    runtime.client().tasksAsync().wait(TasksApi.WaitRequest.newBuilder().setContainerId(containerId).build(),
        new StreamObserver<>() {
          @Override
          public void onNext(TasksApi.WaitResponse r) {
            exited(r.getExitStatus());
          }

          @Override
          public void onError(Throwable t) {
            if (ContainerdClient.unavailable(t) && !runtime.isClosed()) {
              long delay = Math.min(5000, 100L << Math.min(attempt, 6));
              try {
                runtime.scheduler().schedule(() -> {
                  runtime.client().kick();
                  awaitExit(attempt + 1);
                }, delay, TimeUnit.MILLISECONDS);
              } catch (java.util.concurrent.RejectedExecutionException closing) {
                // the runtime is closing: close() releases this task
              }
            } else if (ContainerdClient.notFound(t) && !releasing.get()) {
              complete(new SandboxExit(-1, false, "task vanished from containerd"));
            }
          }

          @Override
          public void onCompleted() {}
        });
  }

  /** containerd reported an out-of-memory event for this container. */
  void oom() {
    oomSeen = true;
  }

  /** The init process ended with {@code status}. */
  void exited(int status) {
    if (exit.isDone()) {
      return;
    }
    // The OOM event may trail the exit event: ask the cgroup as well while it still exists.
    boolean oom = status == 128 + SIGKILL && (oomSeen || (!killedByUs && cgroupSawOomKill()));
    String reason;
    if (oom) {
      reason = "killed for exceeding its memory limit";
    } else if (killedByUs) {
      reason = "destroyed";
    } else if (status > 128) {
      reason = "killed by signal " + (status - 128);
    } else {
      reason = "exited with status " + status;
    }
    complete(new SandboxExit(status, oom, reason));
  }

  private void complete(SandboxExit e) {
    if (exit.complete(e)) {
      endedAt = System.nanoTime() | 1;
      LOG.debug("{} ended: {}", containerId, e);
    }
  }

  private boolean cgroupSawOomKill() {
    for (Path p : new Path[] {
        Path.of("/sys/fs/cgroup/memory", cgroupsPath, "memory.oom_control"),
        Path.of("/sys/fs/cgroup", cgroupsPath, "memory.events")}) {
      try {
        for (String line : Files.readAllLines(p)) {
          if (line.startsWith("oom_kill ") && !line.equals("oom_kill 0")) {
            return true;
          }
        }
      } catch (IOException | RuntimeException ignored) {
        // not this cgroup version, or gone already
      }
    }
    return false;
  }

  /** Sends a signal to every process of the task; false when there is no task any more. */
  boolean kill(int signal) {
    try {
      runtime.client().tasks().kill(TasksApi.KillRequest.newBuilder()
          .setContainerId(containerId).setSignal(signal).setAll(true).build());
      return true;
    } catch (StatusRuntimeException e) {
      if (!ContainerdClient.notFound(e)) {
        LOG.debug("kill {} {}: {}", signal, containerId, e.getStatus());
      }
      return false;
    }
  }

  /** Applies new cgroup limits to the running task. */
  void update(SandboxLimits limits) throws IOException {
    com.fasterxml.jackson.databind.node.ObjectNode r = OciSpecs.resources(limits);
    r.remove("devices");
    try {
      runtime.client().tasks().update(TasksApi.UpdateTaskRequest.newBuilder()
          .setContainerId(containerId)
          .setResources(Any.newBuilder().setTypeUrl(RESOURCES_TYPE)
              .setValue(ByteString.copyFrom(OciSpecs.JSON.writeValueAsBytes(r))))
          .build());
    } catch (StatusRuntimeException e) {
      throw new IOException("containerd could not update the limits of " + containerId + ": " + e.getStatus(), e);
    }
  }

  /**
   * SIGTERM, then SIGKILL after {@code grace}, then task, container and files deleted.
   * Idempotent; concurrent callers return once it is released.
   */
  void release(Duration grace) {
    if (!releasing.compareAndSet(false, true)) {
      released.join();
      return;
    }
    try {
      killedByUs = true;
      if (!exit.isDone()) {
        if (!grace.isZero() && !grace.isNegative() && kill(SIGTERM)) {
          awaitQuietly(grace);
        }
        if (!exit.isDone()) {
          kill(SIGKILL);
          awaitQuietly(Duration.ofSeconds(10));
        }
      }
      deleteTaskAndContainer();
    } finally {
      runtime.tailer().finish(outputFile);
      unmountAll();
      RootfsAssembler.deleteTree(stateDir);
      complete(new SandboxExit(-1, false, "destroyed"));
      runtime.forget(this);
      released.complete(null);
    }
  }

  private void unmountAll() {
    Path dir = tmpfsMount;
    if (dir != null) {
      HostMounts.unmount(dir);
      tmpfsMount = null;
    }
    if (outputMounted) {
      HostMounts.unmountOutputDir(outputDir);
      outputMounted = false;
    }
  }

  /** The task's passwd and group, root's and 0644, where only the host writes. */
  private void writeIdentity(OciSpecs.Input spec) throws IOException {
    OciSpecs.Identity id = spec.identity();
    String home = spec.env().getOrDefault("HOME", "/tmp");
    writePublic(stateDir.resolve("passwd"), id.passwd(home));
    writePublic(stateDir.resolve("group"), id.group());
  }

  private static void writePublic(Path file, String content) throws IOException {
    Files.writeString(file, content, java.nio.charset.StandardCharsets.UTF_8, java.nio.file.StandardOpenOption.CREATE_NEW,
        java.nio.file.StandardOpenOption.WRITE, java.nio.file.LinkOption.NOFOLLOW_LINKS);
    Files.setPosixFilePermissions(file, java.nio.file.attribute.PosixFilePermissions.fromString("rw-r--r--"));
  }

  private void awaitQuietly(Duration d) {
    try {
      exit.get(d.toMillis(), TimeUnit.MILLISECONDS);
    } catch (TimeoutException | ExecutionException e) {
      // go on with the harder signal
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private void deleteTaskAndContainer() {
    ContainerdClient client = runtime.client();
    try {
      TasksApi.DeleteResponse r =
          client.tasks().delete(TasksApi.DeleteTaskRequest.newBuilder().setContainerId(containerId).build());
      exited(r.getExitStatus());
    } catch (StatusRuntimeException e) {
      if (!ContainerdClient.notFound(e)) {
        processesMayRemain = true;
        LOG.warn("deleting task {} failed: {}", containerId, e.getStatus());
      }
    }
    try {
      client.containers().delete(ContainersApi.DeleteContainerRequest.newBuilder().setId(containerId).build());
    } catch (StatusRuntimeException e) {
      if (!ContainerdClient.notFound(e)) {
        LOG.warn("deleting container {} failed: {}", containerId, e.getStatus());
      }
    }
  }
}
