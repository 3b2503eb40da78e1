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
}
