package dev.extend.containerd;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** A data directory shared by this module's tests, so the root filesystem is assembled once. */
final class TestData {
  private TestData() {}

  static Path dataDir() throws IOException {
    return Files.createDirectories(Path.of("target/extend-data").toAbsolutePath());
  }
}
