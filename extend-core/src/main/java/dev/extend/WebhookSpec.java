package dev.extend;

import java.time.Duration;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;

/**
 * What a caller writes when it creates or updates a webhook: its Node.js source (one CommonJS
 * module), npm dependencies as exact {@code name → version} pairs, secrets (write-only),
 * plain metadata and optional limits (null, or a limit left null, means the platform's default
 * at write time; see {@link Limits}).
 *
 * <p>Structural checks happen here; size limits are the platform's and are checked when the
 * spec is written.
 *
 * @param code the webhook's JavaScript source
 * @param dependencies npm package name to exact version
 * @param secrets secret name to value; never returned in plain text
 * @param meta plain string metadata, returned on reads
 * @param limits limits, or null for the platform's defaults; each limit may be left null alone
 * @param runtime the runtime to run on ({@code node22}), or null for the platform's default
 */
public record WebhookSpec(
    String code,
    Map<String, String> dependencies,
    Map<String, String> secrets,
    Map<String, String> meta,
    Limits limits,
    String runtime) {

  /** Validates structure and copies the maps (sorted, unmodifiable). */
  public WebhookSpec {
    if (code == null || code.isBlank()) {
      throw new ValidationException("code", "is required");
    }
    dependencies = copy("dependencies", dependencies);
    for (Map.Entry<String, String> e : dependencies.entrySet()) {
      new ModuleRef(e.getKey(), e.getValue());
    }
    secrets = copy("secrets", secrets);
    meta = copy("meta", meta);
    if (runtime != null) {
      NodeRuntime.checkName(runtime);
    }
  }

  /** A spec on the platform's default runtime. */
  public WebhookSpec(String code, Map<String, String> dependencies, Map<String, String> secrets,
      Map<String, String> meta, Limits limits) {
    this(code, dependencies, secrets, meta, limits, null);
  }

  private static Map<String, String> copy(String field, Map<String, String> in) {
    if (in == null || in.isEmpty()) {
      return Map.of();
    }
    TreeMap<String, String> out = new TreeMap<>();
    for (Map.Entry<String, String> e : in.entrySet()) {
      String key = e.getKey();
      if (key == null || key.isEmpty()) {
        throw new ValidationException(field, "keys must not be empty");
      }
      if (e.getValue() == null) {
        throw new ValidationException(field + "." + key, "must be a string");
      }
      out.put(key, e.getValue());
    }
    return Collections.unmodifiableMap(out);
  }

  /** Names the secrets, never their values; leaves out the code. */
  @Override
  public String toString() {
    return "WebhookSpec[dependencies=" + dependencies + ", secrets=" + secrets.keySet() + ", meta=" + meta
 + ", limits=" + limits + ", runtime=" + runtime + ", code=" + code.length() + " chars]";
  }

  /** Starts a spec with the given code. */
  public static Builder builder(String code) {
    return new Builder(code);
  }

  /** Builds a {@link WebhookSpec}. */
  public static final class Builder {
    private final String code;
    private final Map<String, String> dependencies = new LinkedHashMap<>();
    private final Map<String, String> secrets = new LinkedHashMap<>();
    private final Map<String, String> meta = new LinkedHashMap<>();
    private Limits limits;
    private String runtime;

    private Builder(String code) {
      this.code = Objects.requireNonNull(code, "code");
    }

    /** Adds an npm dependency at an exact version. */
    public Builder dependency(String name, String version) {
      dependencies.put(name, version);
      return this;
    }

    /** Adds a secret. */
    public Builder secret(String name, String value) {
      secrets.put(name, value);
      return this;
    }

    /** Adds a metadata entry. */
    public Builder meta(String name, String value) {
      meta.put(name, value);
      return this;
    }

    /** Sets the limits (null, or a limit left null: the platform's default). */
    public Builder limits(Limits limits) {
      this.limits = limits;
      return this;
    }

    /** Sets the timeout and keeps the memory limit as set so far (default: the platform's). */
    public Builder timeout(Duration timeout) {
      this.limits = new Limits(Objects.requireNonNull(timeout, "timeout"), limits == null ? null : limits.memoryMb());
      return this;
    }

    /** Sets the memory limit in MiB and keeps the timeout as set so far (default: the platform's). */
    public Builder memoryMb(int memoryMb) {
      this.limits = new Limits(limits == null ? null : limits.timeout(), memoryMb);
      return this;
    }

    /** Sets the runtime, e.g. {@code node22} (default: the platform's). */
    public Builder runtime(String runtime) {
      this.runtime = runtime;
      return this;
    }

    /** Builds and validates the spec. */
    public WebhookSpec build() {
      return new WebhookSpec(code, dependencies, secrets, meta, limits, runtime);
    }
  }
}
