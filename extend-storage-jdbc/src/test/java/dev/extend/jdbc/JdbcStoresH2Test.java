package dev.extend.jdbc;

import dev.extend.testing.TempDirs;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/** The storage contracts on an H2 file database in a temporary directory. */
class JdbcStoresH2Test extends JdbcStoresContractSupport {
  @Override
  JdbcStorage newStorage(List<AutoCloseable> cleanup) throws Exception {
    Path dir = Files.createTempDirectory("extend-h2-");
    cleanup.add(() -> TempDirs.delete(dir));
    JdbcStorage storage = JdbcStorage.h2(dir, KEYS);
    cleanup.add(storage);
    return storage;
  }
}
