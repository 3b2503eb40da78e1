package dev.extend.containerd;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Small tmpfs mounts on the host: one over each sandbox's socket directory, and one over each
 * task's output directory. The socket directory is the one host path a sandbox may write; on a
 * tmpfs of a few inodes and kilobytes it cannot be used to fill the host's disk. The output
 * directory holds the file the shim appends the task's stdout and stderr to: on a tmpfs of a
 * small multiple of the output cap, a flood between two polls of the tailer stops at that size
 * (the shim's writes fail and that task's output stalls) instead of filling the host's disk.
 */
final class HostMounts {
  static final String MARKER = "socket-mount";
  /** The source name of socket-directory mounts, as /proc/self/mountinfo shows it. */
  static final String SOCK_SOURCE = "extend-sock";
  /** The source name of output-directory mounts. */
  static final String OUTPUT_SOURCE = "extend-out";

  private HostMounts() {}

  /** Mounts a tiny tmpfs owned by the sandbox's user {@code uid} (and its group) on {@code dir}. */
  static void mountSocketDir(Path dir, int uid) throws IOException {
    run(List.of("mount", "-t", "tmpfs", "-o",
        "size=64k,nr_inodes=16,mode=0755,uid=" + uid + ",gid=" + uid + ",nosuid,nodev,noexec",
        SOCK_SOURCE, dir.toString()));
  }

  /**
   * Mounts a tmpfs of {@code bytes} (rounded up to pages) and a few inodes, owned by root and
   * closed to others, on {@code dir}: only the shim (root) writes there, only the host reads.
   */
  static void mountOutputDir(Path dir, long bytes) throws IOException {
    run(List.of("mount", "-t", "tmpfs", "-o",
        "size=" + bytes + ",nr_inodes=8,mode=0700,uid=0,gid=0,nosuid,nodev,noexec", OUTPUT_SOURCE, dir.toString()));
  }

  /** Detaches the output tmpfs on {@code dir} if there is one. */
  static void unmountOutputDir(Path dir) {
    unmount(dir, OUTPUT_SOURCE);
  }

  /**
   * Makes the tmpfs on {@code dir} read-only for good, once the agent has created {@code
   * socket} in it: the remount changes the file system itself, so the sandbox's bind mount of
   * it turns read-only too, and nothing inside can replace the socket with a link to another
   * socket. Connecting to a socket on a read-only file system still works. Checks before and
   * after that {@code socket} is a socket (not a link) and that the file system is read-only.
   */
  static void seal(Path dir, Path socket) throws IOException {
    requireSocket(socket);
    if (!isMountPoint(dir)) {
      throw new IOException("the socket directory is not the sandbox's own tmpfs");
    }
    run(List.of("mount", "-o", "remount,ro,nosuid,nodev,noexec", dir.toString()));
    if (!isReadOnlyMount(dir)) {
      throw new IOException("the socket directory did not become read-only");
    }
    requireSocket(socket);
  }

  private static void requireSocket(Path socket) throws IOException {
    int mode;
    try {
      mode = (Integer) Files.getAttribute(socket, "unix:mode", java.nio.file.LinkOption.NOFOLLOW_LINKS);
    } catch (java.nio.file.NoSuchFileException e) {
      throw new IOException("the agent's socket is missing");
    }
    if ((mode & S_IFMT) != S_IFSOCK) {
      throw new IOException("the agent's socket path is not a socket (mode " + Integer.toOctalString(mode) + ")");
    }
  }

  private static final int S_IFMT = 0170000;
  private static final int S_IFSOCK = 0140000;

  /** Whether the tmpfs on {@code dir} is read-only as a file system (its super options). */
  static boolean isReadOnlyMount(Path dir) throws IOException {
    String target = escape(dir.toAbsolutePath().normalize().toString());
    for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"), StandardCharsets.UTF_8)) {
      String[] f = line.split(" ");
      int sep = line.indexOf(" - tmpfs extend-sock ");
      if (f.length > 4 && f[4].equals(target) && sep > 0) {
        String superOptions = line.substring(sep + " - tmpfs extend-sock ".length());
        return superOptions.equals("ro") || superOptions.startsWith("ro,");
      }
    }
    return false;
  }

  /** Detaches the tmpfs on {@code dir} if there is one (lazily: the agent may still hold it). */
  static void unmount(Path dir) {
    unmount(dir, SOCK_SOURCE);
  }

  private static void unmount(Path dir, String source) {
    try {
      if (isMountPoint(dir, source)) {
        run(List.of("umount", "-l", dir.toString()));
      }
    } catch (IOException e) {
      org.slf4j.LoggerFactory.getLogger(HostMounts.class).warn("unmounting {} failed: {}", dir, e.getMessage());
    }
  }

  /** Whether {@code dir} is a socket-directory mount point of ours (per /proc/self/mountinfo). */
  static boolean isMountPoint(Path dir) throws IOException {
    return isMountPoint(dir, SOCK_SOURCE);
  }

  /** Whether {@code dir} is a tmpfs mount point of ours with the given source name. */
  static boolean isMountPoint(Path dir, String source) throws IOException {
    String target = escape(dir.toAbsolutePath().normalize().toString());
    for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"), StandardCharsets.UTF_8)) {
      String[] f = line.split(" ");
      if (f.length > 4 && f[4].equals(target) && line.contains(" - tmpfs " + source + " ")) {
        return true;
      }
    }
    return false;
  }

  /** mountinfo escapes space, tab, newline and backslash as octal. */
  private static String escape(String path) {
    return path.replace("\\", "\\134").replace(" ", "\\040").replace("\t", "\\011").replace("\n", "\\012");
  }

  private static void run(List<String> command) throws IOException {
    Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
    try {
      String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
      if (!p.waitFor(10, TimeUnit.SECONDS) || p.exitValue() != 0) {
        p.destroyForcibly();
        throw new IOException(String.join(" ", command) + " failed: " + out);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted: " + command, e);
    }
  }
}
