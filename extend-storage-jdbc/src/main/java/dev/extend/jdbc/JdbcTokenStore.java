package dev.extend.jdbc;

import dev.extend.ConflictException;
import dev.extend.ContainerName;
import dev.extend.PayloadTooLargeException;
import dev.extend.ValidationException;
import dev.extend.spi.TokenRecord;
import dev.extend.spi.TokenStore;
import java.nio.charset.StandardCharsets;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Pattern;

/** API tokens in the {@code tokens} table: only the sha256 of each secret is stored. */
final class JdbcTokenStore implements TokenStore {

  static final int MAX_DESCRIPTION_BYTES = 64 * 1024;
  private static final Pattern HASH = Pattern.compile("[0-9a-f]{64}");

  private final Db db;

  JdbcTokenStore(Db db) {
    this.db = db;
  }

  @Override
  public void create(TokenRecord token) {
    if (token.id() == null || token.id().isEmpty() || token.id().length() > 128) {
      throw new ValidationException("id", "must be 1-128 characters");
    }
    if (token.hash() == null || !HASH.matcher(token.hash()).matches()) {
      throw new ValidationException("hash", "must be a lower-case hex sha256");
    }
    String description = token.description() == null ? "" : token.description();
    if (description.getBytes(StandardCharsets.UTF_8).length > MAX_DESCRIPTION_BYTES) {
      throw new PayloadTooLargeException("description: more than the JDBC store holds ("
          + MAX_DESCRIPTION_BYTES + " bytes)");
    }
    // Container names cannot contain ',', so a comma-separated list is unambiguous.
    List<String> names = new ArrayList<>();
    new TreeSet<>(token.containers()).forEach(n -> names.add(n.value()));
    db.call(c -> {
      try (PreparedStatement ps = c.prepareStatement("INSERT INTO tokens (id, hash, containers, description,"
          + " created_at, revoked_at) VALUES (?, ?, ?, ?, ?, NULL)")) {
        ps.setString(1, token.id());
        ps.setString(2, token.hash());
        ps.setString(3, String.join(",", names));
        ps.setString(4, description);
        ps.setLong(5, Db.toMicros(token.createdAt()));
        return ps.executeUpdate();
      } catch (SQLException e) {
        if (db.dialect().isDuplicateKey(e)) {
          throw new ConflictException("token " + token.id() + ": a token with this id or secret exists");
        }
        throw e;
      }
    });
  }

  @Override
  public Optional<TokenRecord> findByHash(String hash) {
    if (hash == null || !HASH.matcher(hash).matches()) {
      return Optional.empty();
    }
    return db.call(c -> {
      try (PreparedStatement ps = c.prepareStatement("SELECT id, hash, containers, description, created_at"
          + " FROM tokens WHERE hash = ? AND revoked_at IS NULL")) {
        ps.setString(1, hash);
        try (ResultSet rs = ps.executeQuery()) {
          return rs.next() ? Optional.of(read(rs)) : Optional.empty();
        }
      }
    });
  }

  @Override
  public boolean revoke(String id) {
    if (id == null) {
      return false;
    }
    return db.call(c -> {
      try (PreparedStatement ps = c.prepareStatement(
          "UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL")) {
        ps.setLong(1, Db.toMicros(Db.now()));
        ps.setString(2, id);
        return ps.executeUpdate() == 1;
      }
    });
  }

  @Override
  public List<TokenRecord> list() {
    return db.call(c -> {
      try (PreparedStatement ps = c.prepareStatement("SELECT id, hash, containers, description, created_at"
          + " FROM tokens WHERE revoked_at IS NULL ORDER BY created_at, id");
          ResultSet rs = ps.executeQuery()) {
        List<TokenRecord> out = new ArrayList<>();
        while (rs.next()) {
          out.add(read(rs));
        }
        return out;
      }
    });
  }

  private static TokenRecord read(ResultSet rs) throws SQLException {
    Set<ContainerName> containers = new HashSet<>();
    String list = rs.getString("containers");
    if (!list.isEmpty()) {
      for (String name : list.split(",")) {
        containers.add(ContainerName.of(name));
      }
    }
    return new TokenRecord(rs.getString("id"), rs.getString("hash"), containers, rs.getString("description"),
        Db.fromMicros(rs.getLong("created_at")));
  }
}
