package dev.extend.jdbc;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

/** The storage contracts on an H2 file database in a temporary directory. */
class JdbcStoresH2Test extends JdbcStoresContractSupport {
  @Override
  JdbcStorage newStorage(List<AutoCloseable> cleanup) throws Exception {
    Path dir = Files.createTempDirectory("extend-h2-");
    cleanup.add(() -> deleteTree(dir));
    JdbcStorage storage = JdbcStorage.h2(dir, KEYS);
    cleanup.add(storage);
    return storage;
  }

  static void deleteTree(Path dir) throws java.io.IOException {
    if (!Files.exists(dir)) {
      return;
    }
    try (Stream<Path> paths = Files.walk(dir)) {
      for (Path p : paths.sorted(java.util.Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(p);
      }
    }
  }
}
