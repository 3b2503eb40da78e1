package dev.extend.jdbc;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;

/** {@link SecretKeysAcrossNodesSupport} on a fresh database of the shared MariaDB server. */
class SecretKeysAcrossNodesMariaDbTest extends SecretKeysAcrossNodesSupport {
  private String database;

  @BeforeEach
  void createDatabase() {
    database = SharedMariaDb.createDatabase();
  }

  @AfterEach
  void dropDatabase() {
    closeNodes(); // before the drop, which waits for their connections otherwise
    SharedMariaDb.dropDatabase(database);
  }

  @Override
  String url() {
    return SharedMariaDb.url(database);
  }

  @Override
  String user() {
    return SharedMariaDb.USER;
  }

  @Override
  String password() {
    return SharedMariaDb.PASSWORD;
  }
}
