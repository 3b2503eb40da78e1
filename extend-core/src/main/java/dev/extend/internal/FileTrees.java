package dev.extend.internal;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.stream.Stream;

/** File-tree chores shared by the engine. */
public final class FileTrees {
  private FileTrees() {}

  /**
   * Deletes a directory tree, best effort: without following links, tolerating files that
   * vanish meanwhile; what is left is removed by a later start.
   */
  public static void deleteTree(Path dir) {
    if (!Files.exists(dir, LinkOption.NOFOLLOW_LINKS)) {
      return;
    }
    try (Stream<Path> s = Files.walk(dir)) {
      s.sorted(Comparator.reverseOrder()).forEach(p -> {
        try {
          Files.deleteIfExists(p);
        } catch (IOException e) {
          // best effort
        }
      });
    } catch (IOException | UncheckedIOException e) {
      // best effort
    }
  }

  /**
   * Makes a directory of the platform's reachable by its owner only (mode 0700): the data
   * directory holds tenants' code, secrets and the agents' sockets, none of which other users
   * of the host may reach. Sandboxes see only what is mounted into them, so they are not
   * affected.
   */
  public static void closeToOthers(Path dir) throws IOException {
    java.util.Set<java.nio.file.attribute.PosixFilePermission> perms =
        Files.getPosixFilePermissions(dir, LinkOption.NOFOLLOW_LINKS);
    java.util.Set<java.nio.file.attribute.PosixFilePermission> owner =
        java.nio.file.attribute.PosixFilePermissions.fromString("rwx------");
    if (!perms.equals(owner)) {
      Files.setPosixFilePermissions(dir, owner);
    }
  }
}
