package dev.extend.containerd;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.List;

/**
 * The seccomp profile of sandboxes and jobs: everything is refused ({@code EPERM}) except an
 * allow-list of what Node.js, npm and a POSIX shell need. Left out on purpose, among others:
 * ptrace, process_vm_*, mount/umount, pivot_root, chroot, unshare, setns, keyctl/add_key/
 * request_key, bpf, perf_event_open, userfaultfd, io_uring_*, kexec_*, *_module, reboot,
 * swapon/off, acct, open_by_handle_at, setuid/setgid and friends, clock setting, memfd_create
 * and execveat (together they run a binary that never touched a file system, around {@code
 * noexec} mounts), netlink protocols other than NETLINK_ROUTE, and every system call of the
 * 32-bit ABIs (only the native architecture is listed).
 */
final class Seccomp {
  private static final int EPERM = 1;
  private static final int ENOSYS = 38;
  /** CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET (and NEWTIME). */
  static final long CLONE_NAMESPACE_FLAGS = 0x7E020080L;

  static final List<String> ALLOWED = List.of(
      "accept", "accept4", "access", "alarm", "arch_prctl", "bind", "brk", "capget", "chdir", "chmod", "chown",
      "clock_getres", "clock_gettime", "clock_nanosleep", "close", "close_range", "connect", "copy_file_range",
      "creat", "dup", "dup2", "dup3", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_pwait", "epoll_pwait2",
      "epoll_wait", "eventfd", "eventfd2", "execve", "exit", "exit_group", "faccessat", "faccessat2",
      "fadvise64", "fallocate", "fchdir", "fchmod", "fchmodat", "fchown", "fchownat", "fcntl", "fdatasync",
      "fgetxattr", "flistxattr", "flock", "fork", "fstat", "fstatfs", "fsync", "ftruncate", "futex", "futex_waitv",
      "get_robust_list", "getcpu", "getcwd", "getdents", "getdents64", "getegid", "geteuid", "getgid", "getgroups",
      "getitimer", "getpeername", "getpgid", "getpgrp", "getpid", "getppid", "getpriority", "getrandom",
      "getresgid", "getresuid", "getrlimit", "getrusage", "getsid", "getsockname", "getsockopt", "gettid",
      "gettimeofday", "getuid", "getxattr", "inotify_add_watch", "inotify_init", "inotify_init1",
      "inotify_rm_watch", "ioctl", "kill", "lchown", "lgetxattr", "link", "linkat", "listen", "listxattr",
      "llistxattr", "lseek", "lstat", "madvise", "membarrier", "mincore", "mkdir", "mkdirat",
      "mmap", "mprotect", "mremap", "msync", "munmap", "nanosleep", "newfstatat", "open", "openat", "openat2",
      "pause", "pipe", "pipe2", "pkey_alloc", "pkey_free", "pkey_mprotect", "poll", "ppoll", "prctl", "pread64",
      "preadv", "preadv2", "prlimit64", "pselect6", "pwrite64", "pwritev", "pwritev2", "read", "readahead",
      "readlink", "readlinkat", "readv", "recvfrom", "recvmmsg", "recvmsg", "rename", "renameat", "renameat2",
      "restart_syscall", "rmdir", "rseq", "rt_sigaction", "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo",
      "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait", "rt_tgsigqueueinfo", "sched_get_priority_max",
      "sched_get_priority_min", "sched_getaffinity", "sched_getparam", "sched_getscheduler", "sched_yield",
      "select", "sendfile", "sendmmsg", "sendmsg", "sendto", "set_robust_list", "set_tid_address", "setitimer",
      "setpgid", "setpriority", "setsid", "setsockopt", "shutdown", "sigaltstack", "socketpair", "splice",
      "stat", "statfs", "statx", "symlink", "symlinkat", "sync_file_range", "sysinfo", "tee", "tgkill", "time",
      "timer_create", "timer_delete", "timer_getoverrun", "timer_gettime", "timer_settime", "timerfd_create",
      "timerfd_gettime", "timerfd_settime", "tkill", "truncate", "umask", "uname", "unlink", "unlinkat", "utime",
      "utimensat", "utimes", "vfork", "wait4", "waitid", "write", "writev");

  /** Never allowed, whatever the list above says: checked by the tests. */
  static final List<String> FORBIDDEN = List.of(
      "ptrace", "process_vm_readv", "process_vm_writev", "mount", "umount2", "pivot_root", "chroot", "unshare",
      "setns", "keyctl", "add_key", "request_key", "bpf", "perf_event_open", "userfaultfd", "io_uring_setup",
      "io_uring_enter", "io_uring_register", "kexec_load", "kexec_file_load", "init_module", "finit_module",
      "delete_module", "reboot", "swapon", "swapoff", "acct", "open_by_handle_at", "setuid", "setgid",
      "setreuid", "setresuid", "capset", "clock_settime", "settimeofday", "fsopen", "fsmount", "move_mount",
      "open_tree", "syslog", "clone3", "memfd_create", "execveat");

  /** Socket families a sandbox may open with any protocol: AF_UNIX, AF_INET, AF_INET6. */
  static final List<Integer> SOCKET_FAMILIES = List.of(1, 2, 10);
  /** AF_NETLINK, allowed only with protocol NETLINK_ROUTE (what getifaddrs needs). */
  static final int AF_NETLINK = 16;
  static final int NETLINK_ROUTE = 0;

  private Seccomp() {}

  /** The ids a job may "change" to with setresuid/setresgid: the ones it has (-1 keeps one as it is). */
  static final List<String> SAME_ID_CALLS = List.of("setresuid", "setresgid");

  /** The profile for the JVM's architecture ({@code os.arch}), for sandboxes. */
  static ObjectNode profile(String osArch) {
    return profile(osArch, -1);
  }

  /**
   * The profile for build jobs running as {@code uid} (and gid {@code uid}): as for sandboxes,
   * plus {@code setresuid}/{@code setresgid} when every argument is that id or -1, i.e. a call
   * that changes nothing. GNU make makes such calls before it runs each recipe line; without
   * capabilities no other call could succeed anyway, and these are refused.
   */
  static ObjectNode profile(String osArch, int jobUid) {
    ObjectNode p = OciSpecs.JSON.createObjectNode();
    p.put("defaultAction", "SCMP_ACT_ERRNO");
    p.put("defaultErrnoRet", EPERM);
    ArrayNode arch = p.putArray("architectures");
    arch.add(switch (osArch) {
      case "aarch64", "arm64" -> "SCMP_ARCH_AARCH64";
      default -> "SCMP_ARCH_X86_64";
    });
    ArrayNode rules = p.putArray("syscalls");

    ObjectNode allow = rules.addObject();
    ArrayNode names = allow.putArray("names");
    ALLOWED.forEach(names::add);
    allow.put("action", "SCMP_ACT_ALLOW");

    // clone without any namespace flag: threads and fork, never new namespaces.
    ObjectNode clone = rules.addObject();
    clone.putArray("names").add("clone");
    clone.put("action", "SCMP_ACT_ALLOW");
    clone.putArray("args").addObject()
        .put("index", 0).put("value", CLONE_NAMESPACE_FLAGS).put("valueTwo", 0).put("op", "SCMP_CMP_MASKED_EQ");

    // clone3 passes its flags in memory seccomp cannot read: answer ENOSYS so libc falls back to clone.
    ObjectNode clone3 = rules.addObject();
    clone3.putArray("names").add("clone3");
    clone3.put("action", "SCMP_ACT_ERRNO");
    clone3.put("errnoRet", ENOSYS);

    for (int family : SOCKET_FAMILIES) {
      ObjectNode socket = rules.addObject();
      socket.putArray("names").add("socket");
      socket.put("action", "SCMP_ACT_ALLOW");
      socket.putArray("args").addObject().put("index", 0).put("value", family).put("op", "SCMP_CMP_EQ");
    }
    // Netlink for reading interfaces and routes only: no audit, uevent, xfrm, netfilter, ...
    ObjectNode netlink = rules.addObject();
    netlink.putArray("names").add("socket");
    netlink.put("action", "SCMP_ACT_ALLOW");
    ArrayNode nlArgs = netlink.putArray("args");
    nlArgs.addObject().put("index", 0).put("value", AF_NETLINK).put("op", "SCMP_CMP_EQ");
    nlArgs.addObject().put("index", 2).put("value", NETLINK_ROUTE).put("op", "SCMP_CMP_EQ");
    if (jobUid >= 0) {
      for (String call : SAME_ID_CALLS) {
        // Every combination of (id or -1) over the three arguments, compared on their 32 bits.
        for (int combo = 0; combo < 8; combo++) {
          ObjectNode rule = rules.addObject();
          rule.putArray("names").add(call);
          rule.put("action", "SCMP_ACT_ALLOW");
          ArrayNode args = rule.putArray("args");
          for (int i = 0; i < 3; i++) {
            long v = (combo & (1 << i)) != 0 ? 0xFFFFFFFFL : jobUid;
            args.addObject().put("index", i).put("value", 0xFFFFFFFFL).put("valueTwo", v).put("op", "SCMP_CMP_MASKED_EQ");
          }
        }
      }
    }
    return p;
  }
}
