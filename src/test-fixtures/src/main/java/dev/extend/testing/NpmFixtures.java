package dev.extend.testing;

import dev.extend.ModuleRef;

/**
 * The npm packages {@link LocalNpmRegistry#withFixtures()} serves, and what each is for. Their
 * sources live in this artifact's resources under {@code dev/extend/testing/npm/}.
 */
public final class NpmFixtures {
  private NpmFixtures() {}

  /** No dependencies; exports {@code leaf()} = {@code "leaf"}. Also published as 1.1.0 ({@code "leaf 1.1"}). */
  public static final ModuleRef LEAF = new ModuleRef("ext-leaf", "1.0.0");

  /** Depends on ext-mid@1.0.0, which depends on ext-leaf@~1.0.0; a bin {@code ext-top}; exports a function returning {@code "top>mid>leaf"}. */
  public static final ModuleRef TRANSITIVE = new ModuleRef("ext-top", "1.0.0");

  /** A scoped package depending on ext-leaf@1.1.0; exports {@code name -> "hello <name> from leaf 1.1"}. */
  public static final ModuleRef SCOPED = new ModuleRef("@extend-test/greeter", "1.0.0");

  /** The library plugins register with; exports {@code version}, {@code use(name)}, {@code plugins()}. */
  public static final ModuleRef HOST_1 = new ModuleRef("ext-host", "1.0.0");

  /** The newest ext-host: what npm would pick for a peer range if it installed peers itself. */
  public static final ModuleRef HOST_2 = new ModuleRef("ext-host", "2.0.0");

  /**
   * Declares {@code peerDependencies: {"ext-host": ">=1.0.0"}}; on load calls
   * {@code require('ext-host').use('ext-plugin')} and exports {@code {host, hostVersion}}.
   */
  public static final ModuleRef PEER = new ModuleRef("ext-plugin", "1.0.0");

  /** Its install script prints an error and exits with status 7. */
  public static final ModuleRef FAILING_INSTALL = new ModuleRef("ext-broken", "1.0.0");

  /** Its install script writes 4 MiB of random bytes (so its tarball is larger than 4 MiB). */
  public static final ModuleRef OVERSIZE = new ModuleRef("ext-bloat", "1.0.0");

  /** Its install script never ends (for build timeouts). */
  public static final ModuleRef NEVER_ENDS = new ModuleRef("ext-slow", "1.0.0");

  /** Has a file path over 100 characters and a non-ASCII file name; exports {@code "deep accents"}. */
  public static final ModuleRef LONG_PATHS = new ModuleRef("ext-deep", "1.0.0");

  /**
   * Hostile: its postinstall replaces its package.json (and adds {@code token}) with a symlink
   * to {@code ../../../../admin-token}, i.e. {@code admin-token} beside the build's work directory.
   */
  public static final ModuleRef EVIL_LINK = new ModuleRef("ext-evil-link", "1.0.0");

  /** Hostile: its postinstall replaces its package.json with a FIFO (with a tiny x86-64 program). */
  public static final ModuleRef EVIL_FIFO = new ModuleRef("ext-evil-fifo", "1.0.0");

  /**
   * Hostile: its postinstall plants symlinks leaving node_modules, by their text and through
   * chains of links that look inside ({@code passwd -> etc/passwd}, {@code etc -> ../../..../etc},
   * {@code hop1 -> lib/hop2 -> ../passwd}, {@code up -> ..}, ...), plus two that stay inside:
   * {@code ok -> index.js} and {@code lib-ok -> lib}. Exports {@code "chain inside"}.
   */
  public static final ModuleRef EVIL_CHAIN = new ModuleRef("ext-evil-chain", "1.0.0");

  /**
   * Hostile: its postinstall fills the disk it is built on with 1 MiB blocks (at most 8 GiB),
   * then its inodes with empty files (at most 2 million), and exits successfully.
   */
  public static final ModuleRef EVIL_FILL = new ModuleRef("ext-evil-fill", "1.0.0");

  /**
   * A native addon: node-gyp compiles its C source (Node-API) at install against the build's
   * runtime's headers; exports {@code hello()} = {@code "native hello"} and {@code builtForAbi},
   * the {@code NODE_MODULE_VERSION} it was compiled for.
   */
  public static final ModuleRef ADDON = new ModuleRef("ext-addon", "1.0.0");
}
