package dev.extend.containerd;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.slf4j.LoggerFactory;

/**
 * The work area of one build job: a tmpfs with a size and an inode cap that the host mounts
 * over the job's work directory (owned by the job's user), so that install scripts cannot fill
 * the host's disk or inode table. Recorded in the job's host directory before mounting, so that
 * recovery unmounts it after a crash.
 */
final class JobWorkArea {
  static final String MARKER = "work-mount";
  private static final String SOURCE = "extend-work";

  private final Path dir;
  private final long megabytes;
  private final long inodes;
  private volatile boolean filled;

  private JobWorkArea(Path dir, long megabytes, long inodes) {
    this.dir = dir;
    this.megabytes = megabytes;
    this.inodes = inodes;
  }

  /** Records the mount in {@code jobDir}, then mounts the tmpfs on {@code workDir} (which must be empty). */
  static JobWorkArea mount(Path jobDir, Path workDir, long megabytes, long inodes, int uid) throws IOException {
    Path dir = workDir.toAbsolutePath().normalize();
    try (var s = Files.list(dir)) {
      if (s.findAny().isPresent()) {
        throw new IOException("the work directory of a job must be empty: " + dir);
      }
    }
    Files.writeString(jobDir.resolve(MARKER), dir.toString());
    run(List.of("mount", "-t", "tmpfs", "-o", "size=" + megabytes + "m,nr_inodes=" + inodes + ",mode=0700,uid="
        + uid + ",gid=" + uid + ",nosuid,nodev", SOURCE, dir.toString()));
    return new JobWorkArea(dir, megabytes, inodes);
  }

  long megabytes() {
    return megabytes;
  }

  long inodes() {
    return inodes;
  }

  /**
   * Looks at the area's free space and inodes, and remembers when either ran out (an install
   * script that filled it may have cleaned up by the time the job ends).
   */
  boolean checkFull() {
    if (filled) {
      return true;
    }
    try {
      // available blocks, block size, total blocks, free inodes, total inodes
      String[] f = run(List.of("stat", "-f", "-c", "%a %S %b %d %c", dir.toString())).trim().split(" ");
      long avail = Long.parseLong(f[0]) * Long.parseLong(f[1]);
      long total = Long.parseLong(f[2]) * Long.parseLong(f[1]);
      long freeInodes = Long.parseLong(f[3]);
      long totalInodes = Long.parseLong(f[4]);
      if (avail < Math.max(1L << 20, total / 100) || freeInodes < Math.max(16, totalInodes / 200)) {
        filled = true;
      }
    } catch (IOException | RuntimeException e) {
      // not mounted any more, or unreadable: no verdict
    }
    return filled;
  }

  /** Unmounts the area (lazily when something still holds it); what was in it is gone with it. */
  void unmount() {
    unmount(dir);
  }

  /** Unmounts what a job's host directory records, after a crash. */
  static void unmountRecorded(Path jobDir) {
    Path marker = jobDir.resolve(MARKER);
    try {
      if (Files.isRegularFile(marker)) {
        unmount(Path.of(Files.readString(marker).trim()));
      }
    } catch (IOException e) {
      LoggerFactory.getLogger(JobWorkArea.class).warn("reading {} failed: {}", marker, e.getMessage());
    }
  }

  private static void unmount(Path dir) {
    try {
      while (isMounted(dir)) {
        run(List.of("umount", "-l", dir.toString()));
      }
    } catch (IOException e) {
      LoggerFactory.getLogger(JobWorkArea.class).warn("unmounting the work area {} failed: {}", dir, e.getMessage());
    }
  }

  /** Whether a work-area tmpfs of ours is mounted on {@code dir} (per /proc/self/mountinfo). */
  static boolean isMounted(Path dir) throws IOException {
    String target = dir.toAbsolutePath().normalize().toString().replace("\\", "\\134").replace(" ", "\\040")
        .replace("\t", "\\011").replace("\n", "\\012");
    for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"), StandardCharsets.UTF_8)) {
      String[] f = line.split(" ");
      if (f.length > 4 && f[4].equals(target) && line.contains(" - tmpfs " + SOURCE + " ")) {
        return true;
      }
    }
    return false;
  }

  private static String run(List<String> command) throws IOException {
    Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
    try {
      String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      if (!p.waitFor(10, TimeUnit.SECONDS) || p.exitValue() != 0) {
        p.destroyForcibly();
        throw new IOException(String.join(" ", command) + " failed: " + out.trim());
      }
      return out;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted: " + command, e);
    }
  }
}
