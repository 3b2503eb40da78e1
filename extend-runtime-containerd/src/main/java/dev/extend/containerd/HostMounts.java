package dev.extend.containerd;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Small tmpfs mounts on the host over each sandbox's socket directory. The socket directory is
 * the one host path a sandbox may write; on a tmpfs of a few inodes and kilobytes it cannot be
 * used to fill the host's disk.
 */
final class HostMounts {
  static final String MARKER = "socket-mount";

  private HostMounts() {}

  /** Mounts a tiny tmpfs owned by the sandbox user on {@code dir}. */
  static void mountSocketDir(Path dir) throws IOException {
    run(List.of("mount", "-t", "tmpfs", "-o",
        "size=64k,nr_inodes=16,mode=0755,uid=" + OciSpecs.SANDBOX_UID + ",gid=" + OciSpecs.SANDBOX_UID
            + ",nosuid,nodev,noexec",
        "extend-sock", dir.toString()));
  }

  /** Detaches the tmpfs on {@code dir} if there is one (lazily: the agent may still hold it). */
  static void unmount(Path dir) {
    try {
      if (isMountPoint(dir)) {
        run(List.of("umount", "-l", dir.toString()));
      }
    } catch (IOException e) {
      org.slf4j.LoggerFactory.getLogger(HostMounts.class).warn("unmounting {} failed: {}", dir, e.getMessage());
    }
  }

  /** Whether {@code dir} is a mount point of ours (per /proc/self/mountinfo). */
  static boolean isMountPoint(Path dir) throws IOException {
    String target = escape(dir.toAbsolutePath().normalize().toString());
    for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"), StandardCharsets.UTF_8)) {
      String[] f = line.split(" ");
      if (f.length > 4 && f[4].equals(target) && line.contains(" - tmpfs extend-sock ")) {
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
