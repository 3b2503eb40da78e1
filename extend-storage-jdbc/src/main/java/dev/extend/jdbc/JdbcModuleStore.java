package dev.extend.jdbc;

import dev.extend.ModuleRef;
import dev.extend.ModuleState;
import dev.extend.NotFoundException;
import dev.extend.Page;
import dev.extend.ValidationException;
import dev.extend.spi.Artifact;
import dev.extend.spi.ModuleRecord;
import dev.extend.spi.ModuleStore;
import java.nio.charset.StandardCharsets;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Types;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Optional;

/** Module build records in the {@code modules} table. */
final class JdbcModuleStore implements ModuleStore {

  /** Characters of build log kept: the tail, where npm reports what went wrong. */
  static final int MAX_LOG_CHARS = 64 * 1024;

  private final Db db;

  JdbcModuleStore(Db db) {
    this.db = db;
  }

  @Override
  public Optional<ModuleRecord> get(ModuleRef module) {
    return db.call(c -> {
      try (PreparedStatement ps = c.prepareStatement("SELECT name, version, abi, state, log, artifact_digest,"
          + " artifact_size, updated_at FROM modules WHERE name = ? AND version = ? AND abi = ?")) {
        ps.setString(1, module.name());
        ps.setString(2, module.version());
        ps.setInt(3, module.abi());
        try (ResultSet rs = ps.executeQuery()) {
          return rs.next() ? Optional.of(read(rs)) : Optional.empty();
        }
      }
    });
  }

  @Override
  public boolean createIfAbsent(ModuleRef module) {
    return db.call(c -> {
      try (PreparedStatement ps = c.prepareStatement("INSERT INTO modules (name, version, abi, state, log,"
          + " artifact_digest, artifact_size, updated_at) VALUES (?, ?, ?, ?, '', NULL, NULL, ?)")) {
        ps.setString(1, module.name());
        ps.setString(2, module.version());
        ps.setInt(3, module.abi());
        ps.setString(4, ModuleState.QUEUED.name());
        ps.setLong(5, Db.toMicros(Db.now()));
        ps.executeUpdate();
        return true;
      } catch (SQLException e) {
        // The primary key decides between concurrent creators, on every node.
        if (db.dialect().isDuplicateKey(e)) {
          return false;
        }
        throw e;
      }
    });
  }

  @Override
  public void update(ModuleRef module, ModuleState state, String log, Artifact artifact) {
    String tail = tail(log == null ? "" : log);
    int n = db.call(c -> {
      try (PreparedStatement ps = c.prepareStatement("UPDATE modules SET state = ?, log = ?,"
          + " artifact_digest = ?, artifact_size = ?, updated_at = ? WHERE name = ? AND version = ? AND abi = ?")) {
        ps.setString(1, state.name());
        ps.setString(2, tail);
        if (artifact == null) {
          ps.setNull(3, Types.CHAR);
          ps.setNull(4, Types.BIGINT);
        } else {
          ps.setString(3, artifact.digest());
          ps.setLong(4, artifact.size());
        }
        ps.setLong(5, Db.toMicros(Db.now()));
        ps.setString(6, module.name());
        ps.setString(7, module.version());
        ps.setInt(8, module.abi());
        return ps.executeUpdate();
      }
    });
    if (n == 0) {
      throw new NotFoundException("module " + module + " has no build record");
    }
  }

  static String tail(String log) {
    if (log.length() <= MAX_LOG_CHARS) {
      return log;
    }
    int from = log.length() - MAX_LOG_CHARS;
    if (Character.isLowSurrogate(log.charAt(from))) {
      from++; // never keep half a surrogate pair
    }
    return log.substring(from);
  }

  @Override
  public Page<ModuleRecord> list(int limit, String cursor) {
    if (limit < 1 || limit > 1000) {
      throw new ValidationException("limit", "must be between 1 and 1000, was " + limit);
    }
    ModuleRef after = cursor == null ? null : decodeCursor(cursor);
    return db.call(c -> {
      String sql = "SELECT name, version, abi, state, log, artifact_digest, artifact_size, updated_at FROM modules"
          + (after == null ? "" : " WHERE name > ? OR (name = ? AND version > ?) OR (name = ? AND version = ? AND abi > ?)")
          + " ORDER BY name, version, abi LIMIT ?";
      try (PreparedStatement ps = c.prepareStatement(sql)) {
        int i = 1;
        if (after != null) {
          ps.setString(i++, after.name());
          ps.setString(i++, after.name());
          ps.setString(i++, after.version());
          ps.setString(i++, after.name());
          ps.setString(i++, after.version());
          ps.setInt(i++, after.abi());
        }
        ps.setInt(i, limit + 1);
        List<ModuleRecord> items = new ArrayList<>();
        try (ResultSet rs = ps.executeQuery()) {
          while (rs.next()) {
            items.add(read(rs));
          }
        }
        if (items.size() <= limit) {
          return new Page<>(items, null);
        }
        items = items.subList(0, limit);
        ModuleRef last = items.get(limit - 1).module();
        return new Page<>(items, Base64.getUrlEncoder().withoutPadding()
            .encodeToString(("m2:" + last.abi() + ":" + last.spec()).getBytes(StandardCharsets.UTF_8)));
      }
    });
  }

  private static ModuleRef decodeCursor(String cursor) {
    try {
      String s = new String(Base64.getUrlDecoder().decode(cursor), StandardCharsets.UTF_8);
      if (s.startsWith("m2:")) {
        int colon = s.indexOf(':', 3);
        return ModuleRef.parse(s.substring(colon + 1)).forAbi(Integer.parseInt(s.substring(3, colon)));
      }
    } catch (IllegalArgumentException | ValidationException e) {
      // fall through: not one of ours
    }
    throw new ValidationException("cursor", "is not a cursor of this listing");
  }

  private static ModuleRecord read(ResultSet rs) throws SQLException {
    String digest = rs.getString("artifact_digest");
    Artifact artifact = digest == null ? null : new Artifact(digest, rs.getLong("artifact_size"));
    return new ModuleRecord(new ModuleRef(rs.getString("name"), rs.getString("version"), rs.getInt("abi")),
        ModuleState.valueOf(rs.getString("state")), rs.getString("log"), artifact,
        Db.fromMicros(rs.getLong("updated_at")));
  }
}
