package dev.extend.testing;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.stream.Stream;

/** Removal of a test's scratch directories. */
public final class TempDirs {
  private TempDirs() {}

  /**
   * Deletes a directory tree without following links, best effort: read-only entries are made
   * writable first, and entries that vanish meanwhile (a sandbox still being torn down by a
   * background thread) are not an error. A leftover in the temp dir is harmless.
   */
  public static void delete(Path root) {
    if (!Files.exists(root, LinkOption.NOFOLLOW_LINKS)) {
      return;
    }
    try (Stream<Path> s = Files.walk(root)) {
      s.sorted(Comparator.reverseOrder()).forEach(p -> {
        try {
          if (!Files.isSymbolicLink(p)) {
            p.toFile().setWritable(true);
          }
          Files.deleteIfExists(p);
        } catch (IOException e) {
          // best effort
        }
      });
    } catch (IOException | UncheckedIOException e) {
      // best effort: the walk met an entry that was removed under it
    }
  }
}
