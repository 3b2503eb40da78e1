package dev.extend.containerd;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.extend.spi.SandboxLimits;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Writes OCI runtime specs (JSON) for sandboxes and jobs. Pure functions over plain data, so
 * the hardening can be checked without containerd.
 *
 * <p>What every spec carries: its own pid, ipc, uts, mount and cgroup namespaces; the task's own
 * unprivileged uid/gid (see {@link SandboxUids}) named by a {@code /etc/passwd} and {@code
 * /etc/group} of the task's, bound read-only over the root filesystem's; no capabilities in any of the five sets; {@code noNewPrivileges}; the {@link Seccomp} profile; a
 * read-only root; a size-capped tmpfs {@code /tmp}; masked and read-only {@code /proc} paths;
 * cgroup limits (memory = memory+swap, CPU quota, pids) and rlimits. Sandboxes and jobs also
 * get their own network namespace (loopback only); jobs reach their registry through a socket
 * of the host's in their read-only service directory.
 */
final class OciSpecs {
  static final ObjectMapper JSON = new ObjectMapper();
  /** The name of the task's own user and group in its {@code /etc/passwd} and {@code /etc/group}. */
  static final String USER_NAME = "sandbox";
  static final String PATH = "/usr/local/bin:/usr/bin:/bin";

  /** Inside paths. */
  static final String AGENT = "/extend/agent";
  static final String CODE = "/extend/code";
  static final String MODULES = "/extend/modules";
  static final String SOCK = "/extend/sock";
  static final String WORK = "/work";
  /** Where jobs see their service directory (the host's sockets for them), read-only. */
  static final String SERVICES = "/extend/services";

  /** Mount points the root filesystem must already contain: it is read-only. */
  static final List<String> MOUNT_POINTS =
      List.of("proc", "dev", "sys", "tmp", "extend/agent", "extend/code", "extend/modules", "extend/sock", "work");

  /** Mount points the build root filesystem must contain. */
  static final List<String> JOB_MOUNT_POINTS = List.of("proc", "dev", "sys", "tmp", "work", "extend/services");

  private static final List<String> MASKED = List.of(
      "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
      "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
      // The host's kernel command line (boot parameters, root device, sometimes secrets) and the
      // id of its boot (it names the host across sandboxes and restarts).
      "/proc/cmdline", "/proc/sys/kernel/random/boot_id");
  private static final List<String> READ_ONLY =
      List.of("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger");

  private OciSpecs() {}

  /** A host directory seen inside at {@code target}; {@code exec} false mounts it {@code noexec}. */
  record Bind(Path source, String target, boolean writable, boolean exec) {
    Bind(Path source, String target, boolean writable) {
      this(source, target, writable, !writable);
    }
  }

  /**
   * Who the task runs as: {@code uid}, with the group of the same number, named in the files
   * {@code passwd} and {@code group} of the host directory {@code identityDir} (written by the
   * host, out of the task's reach), which are bound read-only over the root filesystem's.
   */
  record Identity(int uid, Path identityDir) {
    Identity {
      if (uid < SandboxUids.MIN_UID) {
        throw new IllegalArgumentException("a task's uid must be at least " + SandboxUids.MIN_UID + ", was " + uid);
      }
    }

    /** The task's {@code /etc/passwd}: root, nobody and its own user, whose home is {@code home}. */
    String passwd(String home) {
      return "root:x:0:0:root:/root:/usr/sbin/nologin\n"
          + "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
          + USER_NAME + ":x:" + uid + ":" + uid + ":" + USER_NAME + ":" + home + ":/usr/sbin/nologin\n";
    }

    /** The task's {@code /etc/group}. */
    String group() {
      return "root:x:0:\nnogroup:x:65534:\n" + USER_NAME + ":x:" + uid + ":\n";
    }
  }

  /**
   * A sandbox's network: the namespace the host prepared (instead of a new one holding only
   * loopback), the resolver configuration bound over {@code /etc/resolv.conf}, and extra CA
   * certificates (or null) seen at {@value #CA_CERTS} and named by {@code NODE_EXTRA_CA_CERTS}.
   */
  record Network(Path netns, Path resolvConf, Path caCerts) {}

  static final String CA_CERTS = "/etc/extend/ca.pem";

  /** Everything that varies between specs. */
  record Input(
      Identity identity,
      Path rootfs,
      List<String> args,
      Map<String, String> env,
      String cwd,
      List<Bind> binds,
      SandboxLimits limits,
      boolean ownNetwork,
      boolean tmpExec,
      String cgroupsPath,
      String hostname,
      Network network) {
    Input(Identity identity, Path rootfs, List<String> args, Map<String, String> env, String cwd, List<Bind> binds,
        SandboxLimits limits, boolean ownNetwork, boolean tmpExec, String cgroupsPath, String hostname) {
      this(identity, rootfs, args, env, cwd, binds, limits, ownNetwork, tmpExec, cgroupsPath, hostname, null);
    }
  }

  /** The command line of the sandbox agent as seen inside the sandbox. */
  static List<String> agentCommand() {
    return List.of("/usr/bin/node", AGENT + "/agent.js", "--socket", SOCK + "/agent.sock", "--code", CODE,
        "--modules", MODULES);
  }

  /** The whole environment of a sandbox: nothing of the platform's. */
  static Map<String, String> sandboxEnv() {
    Map<String, String> env = new LinkedHashMap<>();
    env.put("PATH", PATH);
    env.put("HOME", "/tmp");
    env.put("NODE_ENV", "production");
    return env;
  }

  /** The spec of a sandbox running the agent. */
  static Input sandbox(Identity identity, Path rootfs, Path agentDir, Path codeDir, Path moduleStore, Path socketDir,
      SandboxLimits limits, String cgroupsPath) {
    return sandbox(identity, rootfs, agentDir, codeDir, moduleStore, socketDir, limits, cgroupsPath, null);
  }

  /** The spec of a sandbox running the agent, on {@code network} (null: loopback only). */
  static Input sandbox(Identity identity, Path rootfs, Path agentDir, Path codeDir, Path moduleStore, Path socketDir,
      SandboxLimits limits, String cgroupsPath, Network network) {
    // Code and agent are JavaScript: noexec. The module store may hold native addons,
    // which Node maps executable, so it cannot be noexec.
    List<Bind> binds = new java.util.ArrayList<>(List.of(new Bind(agentDir, AGENT, false, false),
        new Bind(codeDir, CODE, false, false), new Bind(moduleStore, MODULES, false, true),
        new Bind(socketDir, SOCK, true, false)));
    Map<String, String> env = sandboxEnv();
    if (network != null) {
      binds.add(new Bind(network.resolvConf(), "/etc/resolv.conf", false, false));
      if (network.caCerts() != null) {
        binds.add(new Bind(network.caCerts(), CA_CERTS, false, false));
        env.put("NODE_EXTRA_CA_CERTS", CA_CERTS);
      }
    }
    return new Input(identity, rootfs, agentCommand(), env, "/tmp", binds, limits, true, false, cgroupsPath, "sandbox",
        network);
  }

  /**
   * The spec of a one-off build job: its work area read-write at {@code /work}, its service
   * directory (the host's sockets for it, or null) read-only at {@code /extend/services}, and a
   * network namespace of its own that holds only loopback: whatever it needs from outside the
   * host serves on a socket there.
   */
  static Input job(Identity identity, Path rootfs, List<String> command, Map<String, String> jobEnv, Path workDir, Path serviceDir,
      SandboxLimits limits, String cgroupsPath) {
    Map<String, String> env = new LinkedHashMap<>();
    env.put("PATH", PATH);
    env.put("HOME", WORK);
    List<Bind> binds = new java.util.ArrayList<>();
    binds.add(new Bind(workDir, WORK, true));
    if (serviceDir != null) {
      binds.add(new Bind(serviceDir, SERVICES, false));
    }
    env.putAll(jobEnv);
    return new Input(identity, rootfs, command, env, WORK, binds, limits, true, true, cgroupsPath, "job");
  }

  /** The OCI runtime spec as JSON bytes. */
  static byte[] toJson(Input in) {
    try {
      return JSON.writeValueAsBytes(build(in));
    } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
  }

  static ObjectNode build(Input in) {
    ObjectNode spec = JSON.createObjectNode();
    spec.put("ociVersion", "1.0.2-dev");

    ObjectNode process = spec.putObject("process");
    process.put("terminal", false);
    ObjectNode user = process.putObject("user");
    int uid = in.identity().uid();
    user.put("uid", uid);
    user.put("gid", uid);
    user.putArray("additionalGids").add(uid);
    ArrayNode args = process.putArray("args");
    in.args().forEach(args::add);
    ArrayNode env = process.putArray("env");
    in.env().forEach((k, v) -> env.add(k + "=" + v));
    process.put("cwd", in.cwd());
    ObjectNode caps = process.putObject("capabilities");
    for (String set : List.of("bounding", "effective", "inheritable", "permitted", "ambient")) {
      caps.putArray(set);
    }
    ArrayNode rlimits = process.putArray("rlimits");
    rlimit(rlimits, "RLIMIT_NOFILE", 4096);
    rlimit(rlimits, "RLIMIT_CORE", 0);
    process.put("noNewPrivileges", true);
    // The kernel should pick a sandbox over anything else on the host when memory runs out.
    process.put("oomScoreAdj", 800);

    ObjectNode root = spec.putObject("root");
    root.put("path", in.rootfs().toAbsolutePath().toString());
    root.put("readonly", true);
    spec.put("hostname", in.hostname());

    ArrayNode mounts = spec.putArray("mounts");
    mount(mounts, "/proc", "proc", "proc", "nosuid", "noexec", "nodev");
    mount(mounts, "/dev", "tmpfs", "tmpfs", "nosuid", "noexec", "strictatime", "mode=755", "size=65536k");
    mount(mounts, "/dev/pts", "devpts", "devpts", "nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620");
    // Shared memory counts like /tmp: the same small size.
    mount(mounts, "/dev/shm", "tmpfs", "shm", "nosuid", "noexec", "nodev", "mode=1777",
        "size=" + in.limits().tmpMb() + "m");
    mount(mounts, "/dev/mqueue", "mqueue", "mqueue", "nosuid", "noexec", "nodev");
    mount(mounts, "/sys", "sysfs", "sysfs", "nosuid", "noexec", "nodev", "ro");
    if (in.tmpExec()) {
      mount(mounts, "/tmp", "tmpfs", "tmpfs", "nosuid", "nodev", "mode=1777", "size=" + in.limits().tmpMb() + "m");
    } else {
      mount(mounts, "/tmp", "tmpfs", "tmpfs", "nosuid", "nodev", "noexec", "mode=1777",
          "size=" + in.limits().tmpMb() + "m");
    }
    // The task's own user names (the shared root filesystem knows only root and nobody).
    Path ids = in.identity().identityDir().toAbsolutePath();
    mount(mounts, "/etc/passwd", "bind", ids.resolve("passwd").toString(), "rbind", "ro", "nosuid", "nodev", "noexec");
    mount(mounts, "/etc/group", "bind", ids.resolve("group").toString(), "rbind", "ro", "nosuid", "nodev", "noexec");
    for (Bind b : in.binds()) {
      if (b.writable()) {
        mount(mounts, b.target(), "bind", b.source().toAbsolutePath().toString(), "rbind", "rw", "nosuid", "nodev",
            "noexec");
      } else if (b.exec()) {
        mount(mounts, b.target(), "bind", b.source().toAbsolutePath().toString(), "rbind", "ro", "nosuid", "nodev");
      } else {
        mount(mounts, b.target(), "bind", b.source().toAbsolutePath().toString(), "rbind", "ro", "nosuid", "nodev",
            "noexec");
      }
    }

    ObjectNode linux = spec.putObject("linux");
    ArrayNode namespaces = linux.putArray("namespaces");
    // A cgroup namespace too: /proc/self/cgroup then shows "/" instead of the host's cgroup path.
    for (String ns : in.ownNetwork() ? List.of("pid", "ipc", "uts", "mount", "cgroup", "network")
        : List.of("pid", "ipc", "uts", "mount", "cgroup")) {
      // No path: a new namespace. A new network namespace holds only loopback; a sandbox on
      // the egress network joins the one the host prepared for it.
      ObjectNode n = namespaces.addObject().put("type", ns);
      if (ns.equals("network") && in.network() != null) {
        n.put("path", in.network().netns().toString());
      }
    }
    if (in.network() != null) {
      // No IPv6 inside: the policy is enforced for IPv4, and nothing else may leave.
      linux.putObject("sysctl").put("net.ipv6.conf.all.disable_ipv6", "1").put("net.ipv6.conf.default.disable_ipv6", "1");
    }
    linux.set("resources", resources(in.limits()));
    linux.put("cgroupsPath", in.cgroupsPath());
    ArrayNode masked = linux.putArray("maskedPaths");
    MASKED.forEach(masked::add);
    ArrayNode ro = linux.putArray("readonlyPaths");
    READ_ONLY.forEach(ro::add);
    linux.set("seccomp", in.tmpExec() ? Seccomp.profile(System.getProperty("os.arch"), in.identity().uid())
        : Seccomp.profile(System.getProperty("os.arch")));
    return spec;
  }

  /** linux.resources for the given limits; also the body of a live update. */
  static ObjectNode resources(SandboxLimits limits) {
    ObjectNode r = JSON.createObjectNode();
    // Devices: deny everything; runc adds the harmless defaults (null, zero, urandom, ...).
    r.putArray("devices").addObject().put("allow", false).put("access", "rwm");
    long bytes = (long) limits.memoryMb() * 1024 * 1024;
    // memory+swap equal to memory: no swap beyond the limit.
    r.putObject("memory").put("limit", bytes).put("swap", bytes).put("disableOOMKiller", false);
    long period = 100_000;
    r.putObject("cpu").put("quota", limits.cpuMillis() * period / 1000).put("period", period);
    r.putObject("pids").put("limit", limits.pids());
    return r;
  }

  private static void rlimit(ArrayNode rlimits, String type, long value) {
    rlimits.addObject().put("type", type).put("hard", value).put("soft", value);
  }

  private static void mount(ArrayNode mounts, String dest, String type, String source, String... options) {
    ObjectNode m = mounts.addObject();
    m.put("destination", dest);
    m.put("type", type);
    m.put("source", source);
    ArrayNode o = m.putArray("options");
    for (String opt : options) {
      o.add(opt);
    }
  }
}
