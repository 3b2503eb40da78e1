package dev.extend;

import dev.extend.spi.EgressStore;
import dev.extend.spi.FunctionStore;
import dev.extend.spi.ModuleBuilder;
import dev.extend.spi.ModuleBuilderProvider;
import dev.extend.spi.Storage;
import dev.extend.spi.StorageProvider;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Providers the core tests' class path registers for {@link java.util.ServiceLoader}. They offer
 * nothing unless a test hands them an offer, so every other test keeps the embedded defaults.
 */
final class TestProviders {
  private TestProviders() {}

  /** Offers {@link #offer} when set; records each context it was asked with. */
  public static final class Stores implements StorageProvider {
    static volatile Storage offer;
    static final List<Context> asked = new ArrayList<>();

    @Override
    public int priority() {
      return 1;
    }

    @Override
    public Optional<Storage> create(Context context) {
      synchronized (asked) {
        asked.add(context);
      }
      return Optional.ofNullable(offer);
    }
  }

  /** Offers {@link #offer} when set; records each context it was asked with. */
  public static final class Builders implements ModuleBuilderProvider {
    static volatile ModuleBuilder offer;
    static final List<Context> asked = new ArrayList<>();

    @Override
    public int priority() {
      return 1;
    }

    @Override
    public Optional<ModuleBuilder> create(Context context) {
      synchronized (asked) {
        asked.add(context);
      }
      return Optional.ofNullable(offer);
    }
  }

  static void reset() {
    Stores.offer = null;
    Builders.offer = null;
    synchronized (Stores.asked) {
      Stores.asked.clear();
    }
    synchronized (Builders.asked) {
      Builders.asked.clear();
    }
  }

  /** In-memory stores that remember being closed. */
  static final class RecordingStorage extends dev.extend.internal.memory.InMemoryStorage {
    final FunctionStore functions = functionStore();
    final EgressStore egress = egressStore();
    volatile int closed;

    @Override
    public void close() {
      closed++;
    }

    @Override
    public String toString() {
      return "RecordingStorage";
    }
  }
}
