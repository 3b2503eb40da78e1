package dev.extend.jdbc;

import java.nio.file.Path;
import org.junit.jupiter.api.io.TempDir;

/** {@link SecretKeysAcrossNodesSupport} on one H2 file database, opened by several storages of this JVM. */
class SecretKeysAcrossNodesH2Test extends SecretKeysAcrossNodesSupport {
  @TempDir
  Path dir;

  @Override
  String url() {
    return "jdbc:h2:file:" + dir.resolve("shared");
  }

  @Override
  String user() {
    return "sa";
  }

  @Override
  String password() {
    return "";
  }
}
