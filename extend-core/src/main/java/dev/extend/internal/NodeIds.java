package dev.extend.internal;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A node's id when none is configured: made up once and kept in the data directory, so that the
 * next start on that directory is the same node. The runtime labels sandboxes with the id and
 * recovers, at start, what a previous run of the node left behind (a JVM that was killed); a
 * new id each start would leave those behind for good.
 */
public final class NodeIds {
  /** The file in the data directory that holds the id. */
  public static final String FILE = "node-id";
  /** What a node id looks like. */
  public static final String PATTERN = "[A-Za-z0-9][A-Za-z0-9._-]{0,47}";

  private NodeIds() {}

  /**
   * The id stored in {@code dataDir}, else a new one (host name and a random suffix) stored there
   * first. Platforms starting together on one directory get the same id: the file appears
   * complete or not at all.
   *
   * @throws IllegalStateException when the file holds something that is not a node id
   * @throws UncheckedIOException when the directory or the file cannot be read or written
   */
  public static String stored(Path dataDir) {
    Path file = dataDir.resolve(FILE);
    try {
      if (Files.exists(file)) {
        return read(file);
      }
      Files.createDirectories(dataDir);
      String id = Settings.defaultNodeId();
      Path tmp = Files.createTempFile(dataDir, ".node-id-", ".tmp");
      try {
        Files.writeString(tmp, id + "\n", StandardCharsets.UTF_8);
        // A hard link appears atomically and never replaces: whoever links first names the node.
        Files.createLink(file, tmp);
        return id;
      } catch (FileAlreadyExistsException raced) {
        return read(file);
      } catch (UnsupportedOperationException noLinks) {
        try {
          Files.move(tmp, file);
          return id;
        } catch (FileAlreadyExistsException raced) {
          return read(file);
        }
      } finally {
        Files.deleteIfExists(tmp);
      }
    } catch (IOException e) {
      throw new UncheckedIOException("nodeId: cannot read or store the node id in " + file + ": " + e.getMessage(), e);
    }
  }

  private static String read(Path file) throws IOException {
    if (Files.size(file) > 256) {
      throw new IllegalStateException("nodeId: " + file + " is not a node id file (" + Files.size(file)
          + " bytes); correct or delete it");
    }
    String id = Files.readString(file, StandardCharsets.UTF_8).strip();
    if (!id.matches(PATTERN)) {
      throw new IllegalStateException("nodeId: " + file + " holds '" + id + "', not 1-48 letters, digits, '.', '_'"
          + " or '-' starting with a letter or digit; correct or delete it");
    }
    return id;
  }
}
