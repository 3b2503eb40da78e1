package dev.extend;

import java.util.regex.Pattern;

/**
 * One npm package at one exact version, e.g. {@code lodash@4.17.21} or
 * {@code @types/node@20.11.0}. Names follow npm's rules (lower case, URL-safe, optional
 * scope, at most 214 characters); versions must be exact semver: no ranges, tags, URLs, git
 * or file specs.
 *
 * @param name the package name, scope included
 * @param version the exact version
 */
public record ModuleRef(String name, String version) implements Comparable<ModuleRef> {
  private static final Pattern NAME =
      Pattern.compile("(?:@[a-z0-9~-][a-z0-9._~-]*/)?[a-z0-9~-][a-z0-9._~-]*");
  private static final Pattern SEMVER = Pattern.compile(
      "(0|[1-9]\\d{0,8})\\.(0|[1-9]\\d{0,8})\\.(0|[1-9]\\d{0,8})"
          + "(?:-[0-9A-Za-z-]+(?:\\.[0-9A-Za-z-]+)*)?(?:\\+[0-9A-Za-z-]+(?:\\.[0-9A-Za-z-]+)*)?");

  /** Validates name and version; errors name the field {@code dependencies.<name>}. */
  public ModuleRef {
    checkName("dependencies." + name, name);
    checkVersion("dependencies." + name, version);
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

  /** The directory name of this module in a module store: {@code name@version}, with a scope's {@code /} as {@code +}. */
  public String storeKey() {
    return name.replace('/', '+') + "@" + version;
  }

  @Override
  public int compareTo(ModuleRef o) {
    int c = name.compareTo(o.name);
    return c != 0 ? c : version.compareTo(o.version);
  }

  /** {@code name@version}. */
  @Override
  public String toString() {
    return name + "@" + version;
  }
}
