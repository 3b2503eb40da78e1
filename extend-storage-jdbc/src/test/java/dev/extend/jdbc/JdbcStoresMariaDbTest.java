package dev.extend.jdbc;

import java.util.List;

/** The storage contracts on the shared MariaDB server, a fresh database per test. */
class JdbcStoresMariaDbTest extends JdbcStoresContractSupport {
  @Override
  JdbcStorage newStorage(List<AutoCloseable> cleanup) {
    String db = SharedMariaDb.createDatabase();
    cleanup.add(() -> SharedMariaDb.dropDatabase(db));
    JdbcStorage storage = SharedMariaDb.open(db, KEYS);
    cleanup.add(storage);
    return storage;
  }
}
