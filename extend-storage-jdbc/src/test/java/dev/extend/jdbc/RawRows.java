package dev.extend.jdbc;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.Statement;

/** Reads a table with plain JDBC, to check what is really stored. */
final class RawRows {
  private RawRows() {}

  /**
   * Asserts that no column of any row of {@code table} contains {@code needle} (as bytes, also
   * inside text), that the table has rows, and that secrets name {@code keyId}.
   */
  static void assertNoColumnContains(Connection connection, String table, byte[] needle, String keyId)
      throws Exception {
    try (Connection c = connection; Statement s = c.createStatement();
        ResultSet rs = s.executeQuery("SELECT * FROM " + table)) {
      ResultSetMetaData md = rs.getMetaData();
      int rows = 0;
      while (rs.next()) {
        rows++;
        for (int i = 1; i <= md.getColumnCount(); i++) {
          byte[] raw = rs.getBytes(i);
          if (raw == null) {
            continue;
          }
          assertThat(indexOf(raw, needle)).as("column %s holds the plaintext", md.getColumnLabel(i)).isLessThan(0);
          String text = new String(raw, StandardCharsets.UTF_8);
          assertThat(text).doesNotContain(new String(needle, StandardCharsets.UTF_8));
        }
        assertThat(rs.getString("secrets_key_id")).isEqualTo(keyId);
      }
      assertThat(rows).as("rows in " + table).isPositive();
    }
  }

  static int indexOf(byte[] hay, byte[] needle) {
    outer:
    for (int i = 0; i + needle.length <= hay.length; i++) {
      for (int j = 0; j < needle.length; j++) {
        if (hay[i + j] != needle[j]) {
          continue outer;
        }
      }
      return i;
    }
    return -1;
  }
}
