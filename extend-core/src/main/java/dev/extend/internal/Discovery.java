package dev.extend.internal;

import dev.extend.internal.memory.InMemoryBuildQueue;
import dev.extend.spi.ArtifactStore;
import dev.extend.spi.BuildQueue;
import dev.extend.spi.EgressStore;
import dev.extend.spi.FunctionStore;
import dev.extend.spi.ModuleBuilder;
import dev.extend.spi.ModuleBuilderProvider;
import dev.extend.spi.ModuleStore;
import dev.extend.spi.SandboxRuntime;
import dev.extend.spi.Storage;
import dev.extend.spi.StorageProvider;
import dev.extend.spi.TokenStore;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.ServiceLoader;
import java.util.function.Function;
import java.util.function.Supplier;
import java.util.function.ToIntFunction;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Chooses the components the builder left open, in one order for each: what the builder was
 * given, else what a provider found by {@link ServiceLoader} offers, else the embedded default;
 * the log says which won.
 */
final class Discovery {
  private static final Logger LOG = LoggerFactory.getLogger(Discovery.class);

  private Discovery() {}

  /** A provider's offer, with the provider's class for the log. */
  record Found<T>(T value, String provider) {}

  /**
   * The offer of the provider of highest priority that makes one, or empty. Providers are asked
   * in turn until one offers.
   */
  static <P, T> Optional<Found<T>> first(Class<P> type, ToIntFunction<P> priority, Function<P, Optional<T>> offer) {
    List<P> providers = new ArrayList<>();
    ServiceLoader.load(type).forEach(providers::add);
    providers.sort(Comparator.comparingInt(priority).reversed());
    for (P p : providers) {
      Optional<T> t = offer.apply(p);
      if (t.isPresent()) {
        return Optional.of(new Found<>(t.get(), p.getClass().getName()));
      }
    }
    return Optional.empty();
  }

  /**
   * A setting for providers, named like the standalone server's environment variable: the Java
   * system property of that name, else the environment variable; null when unset or blank.
   */
  static String setting(String name) {
    String v = System.getProperty(name);
    if (v == null || v.isBlank()) {
      v = System.getenv(name);
    }
    return v == null || v.isBlank() ? null : v.strip();
  }

  /**
   * The platform's stores, and the storage some came from.
   *
   * @param storage the storage given or found, or null when every store was given or is in memory
   * @param opened whether {@code storage} was opened here (found), so that a failed start closes it
   */
  record Stores(FunctionStore functions, ArtifactStore artifacts, ModuleStore modules, BuildQueue queue,
      TokenStore tokens, EgressStore egress, Storage storage, boolean opened) {

    /** Whether the build queue is this process's memory, which no standalone worker reaches. */
    boolean queueInMemory() {
      return queue instanceof InMemoryBuildQueue;
    }

    /** After a failed start: closes the storage if it was opened for this platform. */
    void closeOpened() {
      if (opened) {
        try {
          storage.close();
        } catch (RuntimeException e) {
          LOG.warn("closing {} failed: {}", storage, e.toString());
        }
      }
    }
  }

  /**
   * Each store: the one given on its own, else the given storage's, else (when some store is
   * still open) the storage a {@link StorageProvider} opens, else in memory.
   */
  static Stores stores(Settings s) {
    Storage storage = s.storage();
    boolean opened = false;
    if (storage != null) {
      LOG.info("stores: {} (configured)", storage);
    } else if (s.functionStore() == null || s.artifactStore() == null || s.moduleStore() == null
        || s.buildQueue() == null || s.tokenStore() == null || s.egressStore() == null) {
      var ctx = new StorageProvider.Context(s.nodeId(), s.dataDir(), Discovery::setting);
      Optional<Found<Storage>> found = first(StorageProvider.class, StorageProvider::priority, p -> p.create(ctx));
      if (found.isPresent()) {
        storage = found.get().value();
        opened = true;
        LOG.info("stores: {} (found by ServiceLoader: {})", storage, found.get().provider());
      }
    }
    try {
      return new Stores(
          pick("function store", s.functionStore(), storage, Storage::functionStore, FunctionStore::inMemory),
          pick("artifact store", s.artifactStore(), storage, Storage::artifactStore, ArtifactStore::inMemory),
          pick("module store", s.moduleStore(), storage, Storage::moduleStore, ModuleStore::inMemory),
          pick("build queue", s.buildQueue(), storage, Storage::buildQueue, BuildQueue::inMemory),
          pick("token store", s.tokenStore(), storage, Storage::tokenStore, TokenStore::inMemory),
          pick("egress store", s.egressStore(), storage, Storage::egressStore, EgressStore::inMemory),
          storage, opened);
    } catch (RuntimeException | Error e) {
      if (opened) {
        storage.close();
      }
      throw e;
    }
  }

  private static <T> T pick(String what, T given, Storage storage, Function<Storage, T> fromStorage,
      Supplier<T> fallback) {
    if (given != null) {
      LOG.info("{}: {} (configured)", what, given.getClass().getSimpleName());
      return given;
    }
    if (storage != null) {
      return fromStorage.apply(storage);
    }
    LOG.info("{}: in memory (embedded default; nothing survives a restart)", what);
    return fallback.get();
  }

  /**
   * The module builder for in-process build workers, made for {@code runtime}: the one given,
   * else (when the platform runs build workers) one a {@link ModuleBuilderProvider} offers; null
   * when there is none.
   */
  static ModuleBuilder moduleBuilder(Settings s, SandboxRuntime runtime) {
    ModuleBuilder builder = s.moduleBuilder();
    if (builder != null) {
      LOG.info("module builder: {} (configured)", builder.getClass().getSimpleName());
    } else if (s.buildWorkers() > 0) {
      var ctx = new ModuleBuilderProvider.Context(s.nodeId(), s.dataDir(), s.privateScopes().keySet(),
          Discovery::setting);
      Optional<Found<ModuleBuilder>> found =
          first(ModuleBuilderProvider.class, ModuleBuilderProvider::priority, p -> p.create(ctx));
      if (found.isPresent()) {
        builder = found.get().value();
        LOG.info("module builder: {} (found by ServiceLoader: {})", builder.getClass().getSimpleName(),
            found.get().provider());
      }
    }
    return builder == null ? null : builder.forRuntime(runtime);
  }
}
