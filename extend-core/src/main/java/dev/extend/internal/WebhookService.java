package dev.extend.internal;

import dev.extend.ContainerName;
import dev.extend.Limits;
import dev.extend.ModuleRef;
import dev.extend.ModuleStatus;
import dev.extend.Page;
import dev.extend.PayloadTooLargeException;
import dev.extend.PutResult;
import dev.extend.ValidationException;
import dev.extend.Webhook;
import dev.extend.WebhookRef;
import dev.extend.WebhookSpec;
import dev.extend.internal.modules.ModuleService;
import dev.extend.spi.FunctionStore;
import dev.extend.spi.WebhookRecord;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.regex.Pattern;

/** Management of webhooks: validation against the platform's limits, storage, module builds. */
public final class WebhookService {
  private static final Pattern SECRET_NAME = Pattern.compile("[A-Za-z_][A-Za-z0-9_]{0,127}");
  private static final Pattern META_NAME = Pattern.compile("[A-Za-z0-9_][A-Za-z0-9_.:-]{0,127}");

  private final Settings settings;
  private final FunctionStore store;
  private final ModuleService modules;
  private final MetadataCache cache;
  private final dev.extend.internal.runtime.Runtimes runtimes;

  /** A service over the given store. */
  public WebhookService(Settings settings, FunctionStore store, ModuleService modules, MetadataCache cache,
      dev.extend.internal.runtime.Runtimes runtimes) {
    this.runtimes = runtimes;
    this.settings = settings;
    this.store = store;
    this.modules = modules;
    this.cache = cache;
  }

  /** Validates, queues module builds, stores. */
  public PutResult put(WebhookRef ref, WebhookSpec spec, OptionalLong expectedVersion) {
    WebhookRecord draft = validate(ref, spec);
    checkRoom(ref);
    // Builds are queued first: a build for a webhook whose write then fails is harmless,
    // a stored webhook whose builds were never queued is not.
    int abi = runtimes.forWrite(draft.runtime()).abi();
    List<ModuleStatus> states = modules.ensure(draft.dependencies().stream().map(m -> m.forAbi(abi)).toList(),
        ref.container(), settings.maxQueuedBuildsPerContainer());
    WebhookRecord stored = store.put(draft, expectedVersion);
    cache.put(stored);
    return new PutResult(view(stored), stored.version() == 1, states);
  }

  /**
   * A new webhook must fit its container's cap. Concurrent creates may pass it together, so the
   * cap holds up to their number; it bounds what one tenant can store, not an exact count.
   */
  private void checkRoom(WebhookRef ref) {
    if (store.get(ref).isPresent()) {
      return; // an update
    }
    int max = settings.maxWebhooksPerContainer();
    if (store.count(ref.container(), max) >= max) {
      throw new dev.extend.ConflictException("container " + ref.container() + " has " + max
          + " webhooks, its limit (maxWebhooksPerContainer): delete one first");
    }
  }

  /** Checks a spec against the platform's limits and makes the record to store. */
  WebhookRecord validate(WebhookRef ref, WebhookSpec spec) {
    int codeBytes = spec.code().getBytes(StandardCharsets.UTF_8).length;
    if (codeBytes > settings.maxCodeBytes()) {
      throw new PayloadTooLargeException("code: " + codeBytes + " bytes exceeds maxCodeBytes ("
          + settings.maxCodeBytes() + ")");
    }
    if (spec.dependencies().size() > settings.maxDependencies()) {
      throw new ValidationException("dependencies", spec.dependencies().size() + " entries exceed maxDependencies ("
          + settings.maxDependencies() + ")");
    }
    checkMap("secrets", spec.secrets(), SECRET_NAME, settings.maxSecrets(), settings.maxSecretBytes(),
        "letters, digits and '_', not starting with a digit");
    checkMap("meta", spec.meta(), META_NAME, settings.maxMeta(), settings.maxMetaBytes(),
        "letters, digits, '_', '.', ':' and '-'");
    // Each limit left out is resolved now and stored: a later change of the default moves nothing.
    Limits limits = spec.limits() == null ? settings.defaultLimits() : spec.limits().orElse(settings.defaultLimits());
    if (limits.timeout().compareTo(settings.maxLimits().timeout()) > 0) {
      throw new ValidationException("limits.timeoutMs", limits.timeoutMs() + " exceeds the maximum of "
          + settings.maxLimits().timeoutMs());
    }
    if (limits.memoryMb() > settings.maxLimits().memoryMb()) {
      throw new ValidationException("limits.memoryMb", limits.memoryMb() + " exceeds the maximum of "
          + settings.maxLimits().memoryMb());
    }
    List<ModuleRef> deps = new ArrayList<>();
    spec.dependencies().forEach((name, version) -> deps.add(new ModuleRef(name, version)));
    deps.sort(null);
    for (ModuleRef m : deps) {
      String refusal = settings.scopeRefusal(ref.container().value(), m.name());
      if (refusal != null) {
        throw new ValidationException("dependencies." + m.name(), refusal);
      }
    }
    // The runtime is stored by name even when defaulted: a later change of the default moves nothing.
    String runtime = runtimes.forWrite(spec.runtime()).name();
    return new WebhookRecord(ref, spec.code(), deps, spec.secrets(), spec.meta(), limits, runtime, 0, null, null);
  }

  private static void checkMap(String field, Map<String, String> map, Pattern names, int maxEntries, int maxBytes,
      String rule) {
    if (map.size() > maxEntries) {
      throw new ValidationException(field, map.size() + " entries exceed the maximum of " + maxEntries);
    }
    for (Map.Entry<String, String> e : map.entrySet()) {
      if (!names.matcher(e.getKey()).matches()) {
        throw new ValidationException(field + "." + e.getKey(), "name must be 1-128 " + rule);
      }
      int bytes = e.getValue().getBytes(StandardCharsets.UTF_8).length;
      if (bytes > maxBytes) {
        throw new PayloadTooLargeException(field + "." + e.getKey() + ": " + bytes + " bytes exceeds the maximum of "
            + maxBytes);
      }
    }
  }

  /** The webhook, read from the store. */
  public Optional<Webhook> get(WebhookRef ref) {
    return store.get(ref).map(WebhookService::view);
  }

  /** One page of a container's webhooks. */
  public Page<Webhook> list(ContainerName container, int limit, String cursor) {
    Cursors.checkLimit(limit);
    Page<WebhookRecord> p = store.list(container, limit, cursor);
    return new Page<>(p.items().stream().map(WebhookService::view).toList(), p.nextCursor());
  }

  /** Deletes a webhook. */
  public boolean delete(WebhookRef ref, OptionalLong expectedVersion) {
    boolean existed = store.delete(ref, expectedVersion);
    cache.remove(ref);
    return existed;
  }

  /** The public view of a record: secrets by name only. */
  static Webhook view(WebhookRecord r) {
    return new Webhook(r.ref(), r.code(), r.dependencies(), r.secrets().keySet(), r.meta(), r.limits(), r.runtime(), r.version(),
        r.createdAt(), r.updatedAt());
  }
}
