package dev.extend.containerd;

import dev.extend.containerd.internal.api.ContainersApi;
import dev.extend.containerd.internal.api.EventsApi;
import dev.extend.containerd.internal.api.TasksApi;
import dev.extend.spi.JobRunner;
import dev.extend.spi.Sandbox;
import dev.extend.spi.SandboxLimits;
import dev.extend.spi.SandboxRuntime;
import dev.extend.spi.SandboxSpec;
import io.grpc.Context;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs sandboxes as containerd tasks, hardened for hostile tenants, over containerd's gRPC API.
 *
 * <p>Each sandbox is one container in the runtime's own containerd namespace (default {@code
 * extend}), labelled {@code dev.extend.node=<nodeId>} and {@code dev.extend.role=sandbox} (or
 * {@code job}), running the sandbox agent from a read-only root filesystem. Inside, the process
 * runs as a uid/gid of its own (see {@link Builder#sandboxUids}) with no capabilities, {@code noNewPrivileges}, a seccomp allow-list, its
 * own pid, ipc, uts, mount and network namespaces (loopback only), cgroup limits on memory,
 * CPU and pids, a size-capped tmpfs {@code /tmp}, and sees of the host only the agent ({@code
 * /extend/agent}), its code directory ({@code /extend/code}) and the module store ({@code
 * /extend/modules}) read-only, and its socket directory ({@code /extend/sock}) read-write.
 *
 * <p>Root filesystem: by default assembled once per Node.js runtime from the platform's verified
 * distribution of it ({@link SandboxSpec#runtimeDir()}, never the host's {@code node}) under
 * {@code <dataDir>/rootfs/<distribution>-r<recipe>/}. To
 * run from another tree (e.g. one made with {@code debootstrap}), pass it to {@link
 * Builder#rootfs}: it must hold {@code /usr/bin/node}, the files {@code /etc/passwd} and {@code
 * /etc/group} (each task sees its own over them, naming its uid), and the empty directories
 * {@code /proc /dev /sys /tmp /work /extend/agent /extend/code /extend/modules /extend/sock}, and
 * should be owned by root and not writable by others. The sandbox tree holds no shell and no
 * npm; module builds run from a second tree with npm, {@code /usr/bin/env} and {@code /bin/sh}
 * ({@code <distribution>-r<recipe>-build/}, or {@link Builder#buildRootfs}).
 *
 * <p>Host side: the runtime mounts a small tmpfs owned by the sandbox's uid over the sandbox's
 * {@code sock/} directory for its lifetime (the one writable host path cannot fill the disk), a
 * tmpfs of twice the output cap over each task's output directory (a stdout flood stops there,
 * not on the host's disk), and
 * makes the code directory, agent directory and module store traversable by others; their
 * files must be world-readable (the default umask gives that).
 *
 * <p>Thread-safe. Build with {@link #builder()}.
 */
public final class ContainerdRuntime implements SandboxRuntime {
  private static final Logger LOG = LoggerFactory.getLogger(ContainerdRuntime.class);
  /** Label naming the node that owns a container. */
  public static final String NODE_LABEL = "dev.extend.node";
  /** Label naming what a container is: {@code sandbox} or {@code job}. */
  public static final String ROLE_LABEL = "dev.extend.role";
  static final String ID_LABEL = "dev.extend.id";

  private final Path socket;
  private final String namespace;
  private final String nodeId;
  private final String idPrefix;
  private final Path dataDir;
  private final Path customRootfs;
  private final Path customBuildRootfs;
  /** Assembled trees by distribution directory and kind; guarded by itself. */
  private final Map<String, Path> trees = new java.util.HashMap<>();
  private final SandboxLimits jobLimits;
  private final long jobWorkAreaMb;
  private final long jobWorkAreaInodes;
  private final Duration closeGrace;
  private final SandboxUids uids;
  private final long outputDirBytes;
  private final ContainerdClient client;
  private final OutputTailer tailer;
  private final ScheduledExecutorService scheduler;
  private final Map<String, ContainerdTask> tasks = new ConcurrentHashMap<>();
  private final Object readyLock = new Object();
  private volatile boolean ready;
  private volatile boolean closed;
  private volatile Context.CancellableContext subscription;
  private final Duration reconcileInterval;
  private volatile boolean reconciling;
  private final SandboxNetwork.Config networkConfig;
  private final Path caCerts;
  private volatile SandboxNetwork network;
  private volatile dev.extend.spi.EgressListener egressListener = (c, s, d, p) -> {};

  private ContainerdRuntime(Builder b) {
    this.socket = b.socket;
    this.namespace = b.namespace;
    this.nodeId = b.nodeId;
    this.idPrefix = idPrefix(b.nodeId);
    this.dataDir = b.dataDir.toAbsolutePath();
    this.customRootfs = b.rootfs == null ? null : b.rootfs.toAbsolutePath();
    this.customBuildRootfs = b.buildRootfs == null ? null : b.buildRootfs.toAbsolutePath();
    this.jobLimits = b.jobLimits;
    this.jobWorkAreaMb = b.jobWorkAreaMb;
    this.jobWorkAreaInodes = b.jobWorkAreaInodes;
    this.closeGrace = b.closeGrace;
    this.reconcileInterval = b.reconcileInterval;
    this.uids = new SandboxUids(b.uidBase, b.uidCount);
    this.networkConfig = b.egress ? networkConfig(b.egressBridge, b.egressSubnet, b.egressDns) : null;
    this.caCerts = b.egressCaCerts == null ? null : b.egressCaCerts.toAbsolutePath();
    // The tailer cuts the file back once past the cap: twice the cap leaves a poll's worth of
    // room for output below it, and bounds what a flood can write between two polls.
    this.outputDirBytes = 2 * b.outputCapBytes + (1 << 20);
    this.client = new ContainerdClient(socket, namespace, b.callTimeout);
    this.tailer = new OutputTailer(b.outputCapBytes, 50);
    this.scheduler = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "extend-containerd");
      t.setDaemon(true);
      return t;
    });
  }

  /** A builder with the defaults: socket {@code /run/containerd/containerd.sock}, namespace {@code extend}. */
  public static Builder builder() {
    return new Builder();
  }

  @Override
  public String name() {
    return "containerd";
  }

  @Override
  public boolean isolating() {
    return true;
  }

  @Override
  public boolean enforcesEgress() {
    return networkConfig != null;
  }

  @Override
  public void egressListener(dev.extend.spi.EgressListener listener) {
    this.egressListener = Objects.requireNonNull(listener, "listener");
  }

  @Override
  public Map<dev.extend.ContainerName, dev.extend.EgressCounters> egressCounters() {
    SandboxNetwork n = network;
    return n == null ? Map.of() : n.counters(this);
  }

  static SandboxNetwork.Config networkConfig(String bridge, String subnet, List<java.net.InetSocketAddress> dns) {
    int slash = subnet.indexOf('/');
    if (slash < 0) {
      throw new IllegalArgumentException("the sandbox subnet needs a prefix length, e.g. 10.213.0.0/16");
    }
    int prefix;
    try {
      prefix = Integer.parseInt(subnet.substring(slash + 1));
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("bad prefix length in " + subnet);
    }
    return new SandboxNetwork.Config(bridge, SandboxNetwork.parse(subnet.substring(0, slash)), prefix, dns);
  }

  /** The node id whose containers this runtime owns. */
  public String nodeId() {
    return nodeId;
  }

  /** The root filesystem sandboxes of that runtime distribution run from (assembled on first use unless given). */
  public Path rootfs(Path runtimeDir) throws IOException {
    ensureReady();
    return tree(runtimeDir, RootfsAssembler.Kind.SANDBOX);
  }

  /**
   * Connects, assembles the root filesystem, subscribes to task events, and deletes every
   * container (with its task) labelled with this node id: what a crashed earlier run left.
   */
  @Override
  public void recover() throws IOException {
    ensureReady();
    int removed = sweep(Duration.ZERO);
    // Work areas of jobs of an earlier run (their containers are gone: nothing holds them).
    ContainerdJobRunner.recoverLeftovers(dataDir.resolve("containerd/jobs"), idPrefix);
    if (removed > 0) {
      LOG.info("removed {} containers left behind by an earlier run of node {}", removed, nodeId);
    }
    startReconciling();
  }

  /**
   * Removes what this node holds in containerd and on disk that no live sandbox or job of this
   * runtime owns: containers (with their tasks and shims) labelled with this node id, and task
   * directories (output files, socket mounts) older than {@code minAge}.
   *
   * @return the number of containers removed
   */
  int sweep(Duration minAge) throws IOException {
    List<ContainersApi.Container> leftovers;
    try {
      leftovers = client.containers().list(ContainersApi.ListContainersRequest.newBuilder()
          .addFilters("labels." + quote(NODE_LABEL) + "==" + quote(nodeId)).build()).getContainersList();
    } catch (StatusRuntimeException e) {
      throw new IOException("listing containers of node " + nodeId + " failed: " + e.getStatus(), e);
    }
    int removed = 0;
    for (ContainersApi.Container c : leftovers) {
      // A task registers before its container is created, so a container under way is known.
      if (tasks.containsKey(c.getId())) {
        continue;
      }
      removeLeftover(c.getId());
      removed++;
    }
    // Output files and socket mounts of tasks that are gone.
    Path taskDirs = dataDir.resolve("containerd/tasks");
    if (Files.isDirectory(taskDirs)) {
      long now = System.currentTimeMillis();
      try (var dirs = Files.list(taskDirs)) {
        for (Path d : (Iterable<Path>) dirs::iterator) {
          String name = d.getFileName().toString();
          // Only this node's: other nodes may share the data directory.
          if (!name.startsWith(idPrefix + ".") || tasks.containsKey(name)) {
            continue;
          }
          try {
            if (now - Files.getLastModifiedTime(d, java.nio.file.LinkOption.NOFOLLOW_LINKS).toMillis()
                < minAge.toMillis()) {
              continue;
            }
          } catch (java.nio.file.NoSuchFileException gone) {
            continue;
          }
          Path marker = d.resolve(HostMounts.MARKER);
          if (Files.exists(marker, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            HostMounts.unmount(Path.of(Files.readString(marker).trim()));
          }
          HostMounts.unmountOutputDir(d.resolve("output"));
          RootfsAssembler.deleteTree(d);
        }
      }
    }
    SandboxNetwork n = network;
    if (n != null && minAge.compareTo(Duration.ZERO) > 0) {
      n.reconcile();
    }
    // Tasks that ended but were never released (a caller that lost track of them).
    long stale = System.nanoTime() - TimeUnit.MINUTES.toNanos(2);
    for (ContainerdTask t : List.copyOf(tasks.values())) {
      if (t.endedBefore(stale)) {
        LOG.warn("releasing {}: it ended more than 2 minutes ago and nobody released it", t.containerId);
        scheduler.execute(() -> t.release(Duration.ZERO));
      }
    }
    return removed;
  }

  private void startReconciling() {
    if (reconcileInterval.isZero() || reconciling) {
      return;
    }
    reconciling = true;
    scheduler.scheduleWithFixedDelay(() -> {
      try {
        int removed = sweep(Duration.ofMinutes(1));
        if (removed > 0) {
          LOG.warn("reconciliation removed {} containers of node {} that no sandbox or job owned", removed, nodeId);
        }
      } catch (IOException | RuntimeException e) {
        LOG.debug("reconciliation with containerd failed: {}", e.toString());
      }
    }, reconcileInterval.toMillis(), reconcileInterval.toMillis(), TimeUnit.MILLISECONDS);
  }

  private void removeLeftover(String id) {
    try {
      client.tasks().kill(TasksApi.KillRequest.newBuilder().setContainerId(id).setSignal(ContainerdTask.SIGKILL)
          .setAll(true).build());
    } catch (StatusRuntimeException e) {
      LOG.debug("kill of leftover {}: {}", id, e.getStatus());
    }
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (System.nanoTime() < deadline) {
      try {
        TasksApi.TaskStatus s = client.tasks().get(TasksApi.GetRequest.newBuilder().setContainerId(id).build())
            .getProcess().getStatus();
        if (s != TasksApi.TaskStatus.TASK_STATUS_RUNNING && s != TasksApi.TaskStatus.TASK_STATUS_PAUSING) {
          client.tasks().delete(TasksApi.DeleteTaskRequest.newBuilder().setContainerId(id).build());
          break;
        }
        Thread.sleep(50);
      } catch (StatusRuntimeException e) {
        if (ContainerdClient.notFound(e)) {
          break;
        }
        LOG.warn("removing task of leftover {}: {}", id, e.getStatus());
        break;
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        break;
      }
    }
    try {
      client.containers().delete(ContainersApi.DeleteContainerRequest.newBuilder().setId(id).build());
    } catch (StatusRuntimeException e) {
      if (!ContainerdClient.notFound(e)) {
        LOG.warn("deleting leftover container {} failed: {}", id, e.getStatus());
      }
    }
  }

  /**
   * The root filesystem module-build jobs of that runtime distribution run from: the sandbox
   * tree plus npm, {@code /usr/bin/env}, {@code /bin/sh} and what node-gyp needs (assembled on
   * first use unless given).
   */
  Path jobRootfs(Path runtimeDir) throws IOException {
    ensureReady();
    return tree(runtimeDir, RootfsAssembler.Kind.BUILD);
  }

  private Path tree(Path runtimeDir, RootfsAssembler.Kind kind) throws IOException {
    Path custom = kind == RootfsAssembler.Kind.BUILD ? customBuildRootfs : customRootfs;
    if (custom != null) {
      return custom;
    }
    String key = runtimeDir.toAbsolutePath().normalize() + "\n" + kind;
    synchronized (trees) {
      Path t = trees.get(key);
      if (t == null) {
        // Assembled at most once per distribution and kind in this JVM; across processes the
        // assembler's rename decides.
        t = RootfsAssembler.ensure(dataDir, runtimeDir, kind);
        trees.put(key, t);
      }
      return t;
    }
  }

  /** Connects, prepares the root filesystem and subscribes to events, once. */
  void ensureReady() throws IOException {
    if (closed) {
      throw new IOException("the containerd runtime is closed");
    }
    if (ready) {
      return;
    }
    synchronized (readyLock) {
      if (ready) {
        return;
      }
      try {
        String version = client.version(Duration.ofSeconds(5));
        LOG.info("containerd {} at {}, namespace {}, node {}", version, socket, namespace, nodeId);
      } catch (StatusRuntimeException e) {
        throw new IOException("containerd at " + socket + " does not answer: " + e.getStatus(), e);
      }
      if (customRootfs != null) {
        String problem = RootfsAssembler.checkCustom(customRootfs);
        if (problem != null) {
          throw new IOException(problem);
        }
      }
      if (customBuildRootfs != null) {
        String problem = RootfsAssembler.checkCustom(customBuildRootfs, RootfsAssembler.Kind.BUILD);
        if (problem != null) {
          throw new IOException(problem);
        }
      }
      String overlap = uids.hostOverlap(Path.of("/etc"));
      if (overlap != null) {
        throw new IOException("the sandbox uid range " + uids.base() + ".." + (uids.base() + uids.count() - 1L)
            + " overlaps the host's users: " + overlap + "; choose another sandboxUids base");
      }
      Files.createDirectories(dataDir.resolve("containerd/tasks"));
      if (networkConfig != null) {
        startNetwork();
      }
      subscribe(0);
      ready = true;
    }
  }

  /** Host files sandboxes see of the network: their resolver configuration and extra CAs. */
  private Path netDir() {
    return dataDir.resolve("containerd/net");
  }

  private void startNetwork() throws IOException {
    SandboxNetwork n = SandboxNetwork.acquire(networkConfig);
    try {
      Path dir = Files.createDirectories(netDir());
      openForOthers(dir, true);
      Path resolv = dir.resolve("resolv.conf");
      Files.writeString(resolv, "nameserver " + n.nameserver() + "\noptions attempts:2 timeout:2\n");
      Files.setPosixFilePermissions(resolv, java.nio.file.attribute.PosixFilePermissions.fromString("rw-r--r--"));
      if (caCerts != null) {
        byte[] pem = Files.readAllBytes(caCerts);
        if (pem.length > 4 << 20 || !new String(pem, StandardCharsets.US_ASCII).contains("-----BEGIN CERTIFICATE-----")) {
          throw new IOException("the extra CA file " + caCerts + " holds no PEM certificate (or is over 4 MiB)");
        }
        Path ca = dir.resolve("ca.pem");
        Files.write(ca, pem);
        Files.setPosixFilePermissions(ca, java.nio.file.attribute.PosixFilePermissions.fromString("rw-r--r--"));
      } else {
        Files.deleteIfExists(dir.resolve("ca.pem"));
      }
    } catch (IOException | RuntimeException e) {
      n.close();
      throw e;
    }
    network = n;
  }

  @Override
  public Sandbox start(SandboxSpec spec) throws IOException {
    Objects.requireNonNull(spec, "spec");
    ensureReady();
    String containerId = containerId(spec.id());
    if (tasks.containsKey(containerId)) {
      throw new IllegalStateException("a sandbox with id " + spec.id() + " is running");
    }
    Path socketDir = spec.socketDir();
    Files.createDirectories(socketDir);
    Files.createDirectories(spec.codeDir());
    // The agent runs as the sandbox's own uid and creates its socket on the small tmpfs the task
    // mounts over the socket directory (owned by that uid); the rest it only reads.
    Files.deleteIfExists(spec.socket());
    for (Path readable : List.of(spec.codeDir(), spec.agentDir())) {
      openForOthers(readable, true);
    }
    // Traversable, not listable: a sandbox resolves the exact module names its code links,
    // and cannot list what other tenants depend on.
    openForOthers(spec.moduleStore(), false);
    ContainerdTask task = newTask(containerId);
    OciSpecs.Input in;
    try {
      OciSpecs.Network net = null;
      SandboxNetwork n = network;
      if (n != null) {
        task.attachment = n.attach(spec.id());
        Path ca = netDir().resolve("ca.pem");
        net = new OciSpecs.Network(task.attachment.netnsPath(), netDir().resolve("resolv.conf"),
            Files.exists(ca) ? ca : null);
      }
      in = OciSpecs.sandbox(task.identity(), rootfs(spec.runtimeDir()), spec.agentDir(), spec.codeDir(), spec.moduleStore(), socketDir,
          spec.limits(), cgroupsPath(containerId), net);
    } catch (IOException | RuntimeException e) {
      forget(task);
      throw e;
    }
    ContainerdSandbox sandbox = new ContainerdSandbox(spec, task, this);
    task.start(in, labels("sandbox", spec.id()), spec.output(), socketDir);
    if (closed) {
      // close() ran meanwhile and could not see this one.
      sandbox.destroy(Duration.ZERO);
      throw new IOException("the containerd runtime is closed");
    }
    return sandbox;
  }

  private static void openForOthers(Path dir, boolean listable) throws IOException {
    if (!Files.isDirectory(dir, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
      throw new IOException("not a directory: " + dir);
    }
    Set<PosixFilePermission> perms = Files.getPosixFilePermissions(dir);
    boolean changed = perms.add(PosixFilePermission.OTHERS_EXECUTE);
    if (listable) {
      changed |= perms.add(PosixFilePermission.OTHERS_READ);
    } else {
      changed |= perms.remove(PosixFilePermission.OTHERS_READ) | perms.remove(PosixFilePermission.GROUP_READ);
    }
    if (changed) {
      Files.setPosixFilePermissions(dir, perms);
    }
  }

  /** What is wrong with containerd, or null when it answers. */
  @Override
  public String problem() {
    if (closed) {
      return "the containerd runtime is closed";
    }
    try {
      client.version(Duration.ofSeconds(2));
      return null;
    } catch (StatusRuntimeException e) {
      client.kick();
      return "containerd at " + socket + " does not answer: " + e.getStatus().getCode() + " "
          + Objects.toString(e.getStatus().getDescription(), "");
    }
  }

  /**
   * Module builds as containerd tasks from the build root filesystem, with a network namespace
   * that holds only loopback (the host serves their registry on a socket) and a capped tmpfs
   * work area.
   */
  @Override
  public Optional<JobRunner> jobRunner() {
    return Optional.of(new ContainerdJobRunner(this, jobLimits, jobWorkAreaMb, jobWorkAreaInodes));
  }

  /** Destroys every sandbox and job this runtime started, then disconnects. */
  @Override
  public void close() {
    if (closed) {
      return;
    }
    closed = true;
    List<CompletableFuture<Void>> all = new ArrayList<>();
    for (ContainerdTask t : List.copyOf(tasks.values())) {
      all.add(CompletableFuture.runAsync(() -> t.release(closeGrace)));
    }
    try {
      CompletableFuture.allOf(all.toArray(CompletableFuture[]::new)).get(closeGrace.toMillis() + 30_000,
          TimeUnit.MILLISECONDS);
    } catch (Exception e) {
      LOG.warn("not every sandbox was released on close", e);
    }
    Context.CancellableContext sub = subscription;
    if (sub != null) {
      sub.cancel(null);
    }
    tailer.close();
    scheduler.shutdownNow();
    client.close();
    SandboxNetwork n = network;
    if (n != null) {
      network = null;
      n.close();
    }
  }

  // ---- plumbing shared with tasks and jobs -------------------------------------------------

  /** Applies a container's policy to a sandbox's network (see {@link Sandbox#egress}). */
  void applyEgress(ContainerdTask task, dev.extend.ContainerName container, dev.extend.EgressPolicy policy)
      throws IOException {
    SandboxNetwork n = network;
    SandboxNetwork.Attachment a = task.attachment;
    if (n == null || a == null) {
      if (networkConfig == null) {
        return; // loopback only: nothing leaves, whatever the policy
      }
      throw new IOException("the sandbox " + task.containerId + " has no network attachment");
    }
    n.apply(a, this, egressListener, container, policy);
  }

  /** The live tasks (for tests). */
  List<ContainerdTask> tasksForTest() {
    return List.copyOf(tasks.values());
  }

  ContainerdClient client() {
    return client;
  }

  OutputTailer tailer() {
    return tailer;
  }

  ScheduledExecutorService scheduler() {
    return scheduler;
  }

  boolean isClosed() {
    return closed;
  }

  /** The host directory of a job's own state (its work-area record, its service sockets). */
  Path jobDir(String containerId) {
    return dataDir.resolve("containerd/jobs").resolve(containerId);
  }

  /** A task with a uid of its own from the range; it gives the uid back when it is gone. */
  ContainerdTask newTask(String containerId) throws IOException {
    return new ContainerdTask(this, containerId, cgroupsPath(containerId),
        dataDir.resolve("containerd/tasks").resolve(containerId), uids.acquire());
  }

  SandboxUids uids() {
    return uids;
  }

  /** The size of each task's output tmpfs. */
  long outputDirBytes() {
    return outputDirBytes;
  }

  void register(ContainerdTask task) {
    if (tasks.putIfAbsent(task.containerId, task) != null) {
      throw new IllegalStateException(task.containerId + " is already running");
    }
  }

  /** The task is gone (or never started): it leaves the table and gives its uid back. */
  void forget(ContainerdTask task) {
    tasks.remove(task.containerId, task);
    SandboxNetwork.Attachment a = task.attachment;
    SandboxNetwork n = network;
    if (a != null && n != null) {
      task.attachment = null;
      n.release(a);
    }
    task.returnUid();
  }

  Map<String, String> labels(String role, String id) {
    return Map.of(NODE_LABEL, nodeId, ROLE_LABEL, role, ID_LABEL, id);
  }

  String cgroupsPath(String containerId) {
    return "/extend/" + namespace + "/" + containerId;
  }

  /** containerd ids are at most 76 characters: a short node prefix, a dot, the given id. */
  String containerId(String id) {
    String full = idPrefix + "." + id;
    if (full.length() <= 76) {
      return full;
    }
    return idPrefix + "." + sha256(id).substring(0, 76 - idPrefix.length() - 1);
  }

  private static String idPrefix(String nodeId) {
    String clean = nodeId.replaceAll("[^A-Za-z0-9_-]", "-");
    if (clean.length() <= 11 && clean.matches("[A-Za-z0-9].*")) {
      return clean;
    }
    return "n" + sha256(nodeId).substring(0, 10);
  }

  private static String sha256(String s) {
    try {
      return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8)));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  /** containerd filter syntax: a quoted string. */
  private static String quote(String s) {
    return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
  }

  // ---- events ------------------------------------------------------------------------------

  /** Follows /tasks/exit and /tasks/oom of our namespace; resubscribes with backoff after errors. */
  private void subscribe(int attempt) {
    if (closed) {
      return;
    }
    Context.CancellableContext ctx = Context.current().withCancellation();
    Context.CancellableContext previous = subscription;
    subscription = ctx;
    if (previous != null) {
      previous.cancel(null);
    }
    EventsApi.SubscribeRequest request = EventsApi.SubscribeRequest.newBuilder()
        .addFilters("namespace==" + quote(namespace) + ",topic==\"/tasks/exit\"")
        .addFilters("namespace==" + quote(namespace) + ",topic==\"/tasks/oom\"")
        .build();
    ctx.run(() -> client.events().subscribe(request, new StreamObserver<>() {
      private boolean healthy;

      @Override
      public void onNext(EventsApi.Envelope envelope) {
        healthy = true;
        onEvent(envelope);
      }

      @Override
      public void onError(Throwable t) {
        if (closed) {
          return;
        }
        int next = healthy ? 0 : attempt + 1;
        long delay = Math.min(5000, 100L << Math.min(next, 6));
        LOG.warn("containerd event stream broke ({}); resubscribing in {} ms", t.getMessage(), delay);
        try {
          scheduler.schedule(() -> {
            client.kick();
            subscribe(next);
            reconcile();
          }, delay, TimeUnit.MILLISECONDS);
        } catch (java.util.concurrent.RejectedExecutionException closing) {
          // closed meanwhile
        }
      }

      @Override
      public void onCompleted() {
        onError(new IOException("event stream ended"));
      }
    }));
  }

  private void onEvent(EventsApi.Envelope envelope) {
    String type = envelope.getEvent().getTypeUrl();
    // containerd's Any type URLs are bare message names, not type.googleapis.com/...
    String name = type.substring(type.lastIndexOf('/') + 1);
    try {
      if (name.equals("containerd.events.TaskExit")) {
        EventsApi.TaskExitEvent e = EventsApi.TaskExitEvent.parseFrom(envelope.getEvent().getValue());
        ContainerdTask t = tasks.get(e.getContainerId());
        if (t != null && (e.getId().isEmpty() || e.getId().equals(e.getContainerId()))) {
          t.exited(e.getExitStatus());
        }
      } else if (name.equals("containerd.events.TaskOOM")) {
        EventsApi.TaskOomEvent e = EventsApi.TaskOomEvent.parseFrom(envelope.getEvent().getValue());
        ContainerdTask t = tasks.get(e.getContainerId());
        if (t != null) {
          t.oom();
        }
      }
    } catch (com.google.protobuf.InvalidProtocolBufferException e) {
      LOG.warn("unreadable containerd event {} on {}", name, envelope.getTopic(), e);
    }
  }

  /** After the event stream was down: exits may have been missed; ask for each task. */
  private void reconcile() {
    for (ContainerdTask t : List.copyOf(tasks.values())) {
      if (t.exit().isDone()) {
        continue;
      }
      try {
        TasksApi.TaskProcess p = client.tasks().get(TasksApi.GetRequest.newBuilder()
            .setContainerId(t.containerId).build()).getProcess();
        if (p.getStatus() == TasksApi.TaskStatus.TASK_STATUS_STOPPED) {
          t.exited(p.getExitStatus());
        }
      } catch (StatusRuntimeException e) {
        LOG.debug("reconcile {}: {}", t.containerId, e.getStatus());
      }
    }
  }

  /** Settings of a {@link ContainerdRuntime}. */
  public static final class Builder {
    private Path socket = Path.of("/run/containerd/containerd.sock");
    private String namespace = "extend";
    private String nodeId = "node";
    private Path dataDir = Path.of("extend-data");
    private Path rootfs;
    private Path buildRootfs;
    private SandboxLimits jobLimits = new SandboxLimits(2048, 2000, 1024, 512);
    private long jobWorkAreaMb = 1024;
    private long jobWorkAreaInodes = 100_000;
    private long outputCapBytes = 8L * 1024 * 1024;
    private Duration closeGrace = Duration.ofSeconds(2);
    private Duration callTimeout = Duration.ofSeconds(30);
    private Duration reconcileInterval = Duration.ofSeconds(30);
    private int uidBase = SandboxUids.DEFAULT_BASE;
    private int uidCount = SandboxUids.DEFAULT_COUNT;
    private boolean egress = true;
    private String egressBridge = "extend0";
    private String egressSubnet = "10.213.0.0/16";
    private List<java.net.InetSocketAddress> egressDns = List.of();
    private Path egressCaCerts;

    private Builder() {}

    /**
     * The host uids the runtime owns: each sandbox and each build job runs as one of {@code
     * count} uids from {@code base} (with the gid of the same number), its own for as long as it
     * runs, so the kernel's per-user limits (inotify instances and watches, pending signals,
     * message queues) are not shared between tenants. The range must belong to this runtime
     * alone: no user or group of the host, no subordinate range of {@code /etc/subuid} or {@code
     * /etc/subgid} (checked on first use against those files), and no other runtime on the host.
     * {@code count} bounds how many sandboxes and jobs run at once. Default 65,536 uids from
     * 2,000,000,000: above the host's users, the subordinate ranges {@code useradd} hands out
     * (up to 600,100,000) and systemd-nspawn's container ranges (up to 1,879,048,191), and below
     * 2^31.
     */
    public Builder sandboxUids(int base, int count) {
      String problem = SandboxUids.problem(base, count);
      if (problem != null) {
        throw new IllegalArgumentException(problem);
      }
      this.uidBase = base;
      this.uidCount = count;
      return this;
    }


    /** containerd's gRPC socket. Default {@code /run/containerd/containerd.sock}. */
    public Builder socket(Path socket) {
      this.socket = Objects.requireNonNull(socket, "socket");
      return this;
    }

    /** The containerd namespace of every container this runtime creates. Default {@code extend}. */
    public Builder namespace(String namespace) {
      if (namespace == null || !namespace.matches("[A-Za-z0-9]([A-Za-z0-9._-]{0,74}[A-Za-z0-9])?")) {
        throw new IllegalArgumentException("namespace must be letters, digits, '.', '_' or '-', was " + namespace);
      }
      this.namespace = namespace;
      return this;
    }

    /** This node's id: containers are labelled with it, and {@code recover()} removes its leftovers. */
    public Builder nodeId(String nodeId) {
      if (nodeId == null || nodeId.isBlank()) {
        throw new IllegalArgumentException("nodeId must not be blank");
      }
      this.nodeId = nodeId;
      return this;
    }

    /** Where root filesystems and per-sandbox output files live. Default {@code ./extend-data}. */
    public Builder dataDir(Path dataDir) {
      this.dataDir = Objects.requireNonNull(dataDir, "dataDir");
      return this;
    }

    /**
     * A ready root filesystem to use instead of assembling one (see the class description for
     * what it must contain).
     */
    public Builder rootfs(Path rootfs) {
      this.rootfs = rootfs;
      return this;
    }

    /**
     * A ready root filesystem for module-build jobs instead of assembling one: it must hold
     * {@code /usr/bin/node}, {@code /usr/bin/npm} (with what npm and install scripts need, such
     * as {@code /bin/sh}), {@code /etc/passwd} and {@code /etc/group} (each job sees its own over them), and the
     * empty directories {@code /proc /dev /sys /tmp /work /extend/services}.
     */
    public Builder buildRootfs(Path rootfs) {
      this.buildRootfs = rootfs;
      return this;
    }

    /** Limits of module-build jobs. Default 2048 MiB, 2 cores, 1024 pids, 512 MiB {@code /tmp}. */
    public Builder jobLimits(SandboxLimits limits) {
      this.jobLimits = Objects.requireNonNull(limits, "limits");
      return this;
    }

    /**
     * The work area of each module-build job: a tmpfs of this many MiB and inodes the host mounts
     * over the job's work directory (it counts against the host's memory while the job runs).
     * A build that fills it fails with "the build's work area is full". Default 1024 MiB and
     * 100,000 inodes.
     */
    public Builder jobWorkArea(long megabytes, long inodes) {
      if (megabytes < 16 || inodes < 1000) {
        throw new IllegalArgumentException("jobWorkArea must be at least 16 MiB and 1000 inodes, was " + megabytes
            + " MiB and " + inodes + " inodes");
      }
      this.jobWorkAreaMb = megabytes;
      this.jobWorkAreaInodes = inodes;
      return this;
    }

    /**
     * Output a sandbox may write before the rest is dropped. Default 8 MiB. Each task's output
     * file lives on a tmpfs of twice this plus 1 MiB (host memory while it is written): a task
     * that writes that much between two polls of its output stalls on its own stdout.
     */
    public Builder outputCapBytes(long bytes) {
      if (bytes < 1024) {
        throw new IllegalArgumentException("outputCapBytes must be at least 1024, was " + bytes);
      }
      this.outputCapBytes = bytes;
      return this;
    }

    /** SIGTERM-to-SIGKILL grace given to each sandbox by {@code close()}. Default 2 s. */
    public Builder closeGrace(Duration grace) {
      this.closeGrace = Objects.requireNonNull(grace, "grace");
      return this;
    }

    /** Deadline of each containerd call (Wait and events excepted). Default 30 s. */
    public Builder callTimeout(Duration timeout) {
      this.callTimeout = Objects.requireNonNull(timeout, "timeout");
      return this;
    }

    /**
     * How often the runtime compares what containerd holds for this node with the sandboxes
     * and jobs it knows, and removes the rest. Default 30 s; zero turns it off.
     */
    public Builder reconcileInterval(Duration interval) {
      if (interval == null || interval.isNegative()) {
        throw new IllegalArgumentException("reconcileInterval must be zero or positive, was " + interval);
      }
      this.reconcileInterval = interval;
      return this;
    }

    /**
     * Whether sandboxes get outbound networking under their containers' egress policies.
     * Default true; false leaves every sandbox with loopback only (and no resolver). Needs
     * {@code ip} (iproute2) and {@code nft} (nftables) on the host.
     */
    public Builder egress(boolean enabled) {
      this.egress = enabled;
      return this;
    }

    /**
     * The host bridge sandboxes attach to and the IPv4 subnet they get addresses from. Default
     * {@code extend0} and {@code 10.213.0.0/16}; each node on one host needs its own pair, and
     * the subnet must not overlap a network the host reaches.
     */
    public Builder egressNetwork(String bridge, String subnet) {
      this.egressBridge = Objects.requireNonNull(bridge, "bridge");
      this.egressSubnet = Objects.requireNonNull(subnet, "subnet");
      networkConfig(bridge, subnet, List.of()); // validates
      return this;
    }

    /**
     * The DNS servers the sandboxes' resolver asks. Default: the host's ({@code
     * /etc/resolv.conf}).
     */
    public Builder egressDns(List<java.net.InetSocketAddress> servers) {
      this.egressDns = List.copyOf(servers);
      return this;
    }

    /**
     * PEM certificates sandboxes trust in addition to Node's own CA list (through {@code
     * NODE_EXTRA_CA_CERTS}): for services behind a private CA. Default none.
     */
    public Builder egressCaCerts(Path pemFile) {
      this.egressCaCerts = pemFile;
      return this;
    }

    /** The runtime; it connects on first use ({@code recover()} or {@code start}). */
    public ContainerdRuntime build() {
      return new ContainerdRuntime(this);
    }
  }
}
