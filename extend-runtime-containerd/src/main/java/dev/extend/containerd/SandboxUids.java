package dev.extend.containerd;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.BitSet;
import java.util.List;

/**
 * The range of host uids the runtime owns: each sandbox and each job runs as a uid (with the gid
 * of the same number) of its own, taken when it starts and given back once its processes are
 * gone, so no two live tasks ever share one. The kernel counts some limits per user of the host
 * rather than per container (inotify instances and watches, pending signals, message queues):
 * with one uid each, one tenant that takes all of its own leaves the others theirs.
 *
 * <p>Thread-safe. The free-slot choice is a plain method over the set of taken slots.
 */
final class SandboxUids {
  /** Lowest uid a range may start at: above every uid a host gives its system and regular users. */
  static final int MIN_UID = 65536;
  /** Highest uid a range may reach: some tools treat uids of 2^31 and above as negative. */
  static final int MAX_UID = Integer.MAX_VALUE - 1;
  /**
   * Default first uid: 2,000,000,000 lies in the range systemd documents as unused (above the
   * container ranges of systemd-nspawn, which end at 1,879,048,191), and above the subordinate
   * ranges {@code useradd} hands out for rootless containers (100,000 to 600,100,000 by default).
   */
  static final int DEFAULT_BASE = 2_000_000_000;
  /** Default number of uids: far more than a node runs sandboxes at once. */
  static final int DEFAULT_COUNT = 65_536;

  private final int base;
  private final int count;
  private final BitSet taken = new BitSet();
  private int next;

  SandboxUids(int base, int count) {
    String problem = problem(base, count);
    if (problem != null) {
      throw new IllegalArgumentException(problem);
    }
    this.base = base;
    this.count = count;
  }

  /** What is wrong with a range of {@code count} uids from {@code base}, or null. */
  static String problem(long base, long count) {
    if (count < 1) {
      return "sandboxUids count must be at least 1, was " + count;
    }
    if (base < MIN_UID) {
      return "sandboxUids base must be at least " + MIN_UID + " (above the host's own users), was " + base;
    }
    if (base + count - 1 > MAX_UID) {
      return "sandboxUids range " + base + ".." + (base + count - 1) + " must end at or below " + MAX_UID;
    }
    return null;
  }

  int base() {
    return base;
  }

  int count() {
    return count;
  }

  /** Takes a free uid. */
  synchronized int acquire() throws IOException {
    int slot = pick(taken, count, next);
    if (slot < 0) {
      throw new IOException("all " + count + " sandbox uids (" + base + ".." + (base + count - 1)
          + ") are in use; raise the count of sandboxUids");
    }
    taken.set(slot);
    next = (slot + 1) % count;
    return base + slot;
  }

  /** Gives {@code uid} back: no process of it is left. */
  synchronized void release(int uid) {
    int slot = uid - base;
    if (slot >= 0 && slot < count) {
      taken.clear(slot);
    }
  }

  synchronized int inUse() {
    return taken.cardinality();
  }

  /**
   * The first free slot at or after {@code from}, wrapping around, or -1. Going round rather
   * than taking the lowest keeps a uid just given back unused for as long as possible.
   */
  static int pick(BitSet taken, int count, int from) {
    int slot = taken.nextClearBit(from);
    if (slot < count) {
      return slot;
    }
    slot = taken.nextClearBit(0);
    return slot < Math.min(from, count) ? slot : -1;
  }

  /**
   * Which entry of the host's user, group and subordinate-id files overlaps the range, or null:
   * a host user or a rootless container of one with a uid of the range would share the
   * sandboxes' per-user limits and could reach what they create.
   */
  String hostOverlap(Path etc) throws IOException {
    long last = (long) base + count - 1;
    for (String file : List.of("passwd", "group")) {
      for (String line : lines(etc.resolve(file))) {
        String[] f = line.split(":");
        if (f.length > 2 && f[2].matches("\\d{1,10}")) {
          long id = Long.parseLong(f[2]);
          if (id >= base && id <= last) {
            return "/etc/" + file + " names " + f[0] + " with id " + id;
          }
        }
      }
    }
    for (String file : List.of("subuid", "subgid")) {
      for (String line : lines(etc.resolve(file))) {
        String[] f = line.split(":");
        if (f.length > 2 && f[1].matches("\\d{1,10}") && f[2].matches("\\d{1,10}")) {
          long start = Long.parseLong(f[1]);
          long end = start + Long.parseLong(f[2]) - 1;
          if (start <= last && end >= base) {
            return "/etc/" + file + " gives " + f[0] + " ids " + start + ".." + end;
          }
        }
      }
    }
    return null;
  }

  private static List<String> lines(Path file) throws IOException {
    try {
      return Files.readAllLines(file, StandardCharsets.UTF_8);
    } catch (NoSuchFileException e) {
      return List.of();
    }
  }
}
