package dev.extend.bench;

import java.util.Arrays;

/** Latencies in nanoseconds, appended without boxing; percentiles by sorting a copy. */
final class Samples {
  private long[] values;
  private int size;
  private long[] sorted;

  Samples(int capacity) {
    values = new long[Math.max(16, capacity)];
  }

  void add(long nanos) {
    if (size == values.length) {
      values = Arrays.copyOf(values, size * 2);
    }
    values[size++] = nanos;
    sorted = null;
  }

  /** Adds every sample of {@code other}. */
  void addAll(Samples other) {
    for (int i = 0; i < other.size; i++) {
      add(other.values[i]);
    }
  }

  int size() {
    return size;
  }

  /** The {@code p}-th percentile (0..100) in milliseconds, nearest rank; NaN when empty. */
  double percentileMs(double p) {
    if (size == 0) {
      return Double.NaN;
    }
    if (sorted == null) {
      sorted = Arrays.copyOf(values, size);
      Arrays.sort(sorted);
    }
    int rank = (int) Math.ceil(p / 100.0 * size);
    return sorted[Math.min(size - 1, Math.max(0, rank - 1))] / 1e6;
  }

  double p50() {
    return percentileMs(50);
  }

  double p99() {
    return percentileMs(99);
  }
}
