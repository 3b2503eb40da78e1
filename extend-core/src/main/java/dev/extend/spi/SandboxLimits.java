package dev.extend.spi;

/**
 * Resource limits of one sandbox.
 *
 * @param memoryMb memory limit in MiB (cgroup limit; heap limit for the local runtime)
 * @param cpuMillis CPU quota in thousandths of a core (1000 = one core)
 * @param pids maximum number of processes and threads
 * @param tmpMb size of the sandbox's writable {@code /tmp} in MiB
 */
public record SandboxLimits(int memoryMb, int cpuMillis, int pids, int tmpMb) {
  /** Checks ranges. */
  public SandboxLimits {
    if (memoryMb < 32) {
      throw new IllegalArgumentException("memoryMb must be at least 32, was " + memoryMb);
    }
    if (cpuMillis < 10) {
      throw new IllegalArgumentException("cpuMillis must be at least 10, was " + cpuMillis);
    }
    if (pids < 8) {
      throw new IllegalArgumentException("pids must be at least 8, was " + pids);
    }
    if (tmpMb < 1) {
      throw new IllegalArgumentException("tmpMb must be at least 1, was " + tmpMb);
    }
  }
}
