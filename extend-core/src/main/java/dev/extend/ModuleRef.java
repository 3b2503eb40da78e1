package dev.extend;

import java.util.regex.Pattern;

/**
 * One npm package at one exact version, e.g. {@code lodash@4.17.21} or
 * {@code @types/node@20.11.0}. Names follow npm's rules (lower case, URL-safe, optional
 * scope, at most 214 characters); versions must be exact semver: no ranges, tags, URLs, git
 * or file specs.
 *
 * <p>A module is built once per version and Node.js ABI ({@link NodeRuntime#abi()}): native
 * addons differ between ABIs. A webhook's dependencies carry no ABI ({@code 0}); the platform
 * binds them to the webhook's runtime ({@link #forAbi}) to find or build what it runs.
 *
 * @param name the package name, scope included
 * @param version the exact version
 * @param abi the Node.js ABI it is built for, or 0 when not bound to one
 */
public record ModuleRef(String name, String version, int abi) implements Comparable<ModuleRef> {
  private static final Pattern NAME =
      Pattern.compile("(?:@[a-z0-9~-][a-z0-9._~-]*/)?[a-z0-9~-][a-z0-9._~-]*");
  private static final Pattern SEMVER = Pattern.compile(
      "(0|[1-9]\\d{0,8})\\.(0|[1-9]\\d{0,8})\\.(0|[1-9]\\d{0,8})"
          + "(?:-[0-9A-Za-z-]+(?:\\.[0-9A-Za-z-]+)*)?(?:\\+[0-9A-Za-z-]+(?:\\.[0-9A-Za-z-]+)*)?");

  /** Validates name and version; errors name the field {@code dependencies.<name>}. */
  public ModuleRef {
    checkName("dependencies." + name, name);
    checkVersion("dependencies." + name, version);
    if (abi < 0 || abi > 10_000) {
      throw new ValidationException("abi", "must be between 0 and 10000");
    }
  }

  /** A module not bound to an ABI, as a webhook's dependencies name it. */
  public ModuleRef(String name, String version) {
    this(name, version, 0);
  }

  /** This module built for {@code abi}. */
  public ModuleRef forAbi(int abi) {
    return abi == this.abi ? this : new ModuleRef(name, version, abi);
  }

  /** This module without its ABI: the dependency a webhook names. */
  public ModuleRef unbound() {
    return forAbi(0);
  }

  /** Parses {@code name@version} (the scope's leading {@code @} is part of the name). */
  public static ModuleRef parse(String spec) {
    if (spec == null) {
      throw new ValidationException("module", "is required");
    }
    int at = spec.lastIndexOf('@');
    if (at <= 0) {
      throw new ValidationException("module", "must be name@version, got '" + spec + "'");
    }
    return new ModuleRef(spec.substring(0, at), spec.substring(at + 1));
  }

  /**
   * Checks an npm package name.
   *
   * @throws ValidationException naming {@code field}
   */
  public static void checkName(String field, String name) {
    if (name == null || name.isEmpty()) {
      throw new ValidationException(field, "package name is required");
    }
    if (name.length() > 214) {
      throw new ValidationException(field, "package name is longer than 214 characters");
    }
    if (!NAME.matcher(name).matches() || name.startsWith(".") || name.startsWith("_")
        || name.contains("/.") || name.endsWith("/") || name.equals("node_modules")
        || name.equals("favicon.ico")) {
      throw new ValidationException(field, "is not a valid npm package name");
    }
  }

  /**
   * Checks an exact semver version.
   *
   * @throws ValidationException naming {@code field}
   */
  public static void checkVersion(String field, String version) {
    if (version == null || version.isEmpty()) {
      throw new ValidationException(field, "version is required");
    }
    if (version.length() > 64 || !SEMVER.matcher(version).matches()) {
      throw new ValidationException(field,
          "version must be exact semver (e.g. 4.17.21), not a range, tag, URL or path: '"
              + abbreviate(version) + "'");
    }
  }

  private static String abbreviate(String s) {
    return s.length() <= 40 ? s : s.substring(0, 40) + "...";
  }

  /**
   * The directory name of this module in a module store: {@code name@version}, with a scope's
   * {@code /} as {@code +}, and {@code ~abi<N>} when bound to an ABI.
   */
  public String storeKey() {
    return name.replace('/', '+') + "@" + version + (abi == 0 ? "" : "~abi" + abi);
  }

  @Override
  public int compareTo(ModuleRef o) {
    int c = name.compareTo(o.name);
    c = c != 0 ? c : version.compareTo(o.version);
    return c != 0 ? c : Integer.compare(abi, o.abi);
  }

  /** {@code name@version}, and {@code (abi N)} when bound to an ABI. */
  @Override
  public String toString() {
    return name + "@" + version + (abi == 0 ? "" : " (abi " + abi + ")");
  }

  /** {@code name@version}, whatever the ABI: what npm installs. */
  public String spec() {
    return name + "@" + version;
  }
}
