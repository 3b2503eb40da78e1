package dev.extend.jdbc;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.extend.ContainerName;
import dev.extend.EgressPolicy;
import dev.extend.ExtendException;
import dev.extend.ValidationException;
import dev.extend.spi.EgressStore;
import dev.extend.spi.StoredEgressPolicy;
import java.security.SecureRandom;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Egress policies in the {@code egress_policies} table, one row per container; the entries are
 * a JSON array of their wire forms.
 */
final class JdbcEgressStore implements EgressStore {

  /** Containers per {@code IN (...)} of {@link #revisions}: one statement for a node's sandboxes. */
  static final int REVISIONS_PER_STATEMENT = 500;
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final SecureRandom RANDOM = new SecureRandom();

  private final Db db;

  JdbcEgressStore(Db db) {
    this.db = db;
  }

  @Override
  public Optional<StoredEgressPolicy> get(ContainerName container) {
    return db.call(c -> {
      try (PreparedStatement ps = c.prepareStatement(
          "SELECT container, mode, allow_list, revision, updated_at FROM egress_policies WHERE container = ?")) {
        ps.setString(1, container.value());
        try (ResultSet rs = ps.executeQuery()) {
          return rs.next() ? Optional.of(read(rs)) : Optional.empty();
        }
      }
    });
  }

  @Override
  public StoredEgressPolicy put(ContainerName container, EgressPolicy policy) {
    String allow = json(policy.allowStrings());
    long revision = revision();
    Instant now = Db.now();
    // Each statement writes the whole row in auto-commit mode: no transaction holds a gap lock
    // across statements, so concurrent first puts of a container cannot deadlock.
    db.call(c -> {
      if (!update(c, container, policy, allow, revision, now) && !insert(c, container, policy, allow, revision, now)) {
        // a concurrent first put inserted the row between the two statements: replace it
        update(c, container, policy, allow, revision, now);
      }
      return null;
    });
    return new StoredEgressPolicy(container, policy, revision, now);
  }

  private static boolean update(Connection c, ContainerName container, EgressPolicy policy, String allow,
      long revision, Instant now) throws SQLException {
    try (PreparedStatement ps = c.prepareStatement(
        "UPDATE egress_policies SET mode = ?, allow_list = ?, revision = ?, updated_at = ? WHERE container = ?")) {
      ps.setString(1, policy.mode().wireName());
      ps.setString(2, allow);
      ps.setLong(3, revision);
      ps.setLong(4, Db.toMicros(now));
      ps.setString(5, container.value());
      return ps.executeUpdate() == 1;
    }
  }

  private boolean insert(Connection c, ContainerName container, EgressPolicy policy, String allow,
      long revision, Instant now) throws SQLException {
    try (PreparedStatement ps = c.prepareStatement("INSERT INTO egress_policies (container, mode, allow_list,"
        + " revision, updated_at) VALUES (?, ?, ?, ?, ?)")) {
      ps.setString(1, container.value());
      ps.setString(2, policy.mode().wireName());
      ps.setString(3, allow);
      ps.setLong(4, revision);
      ps.setLong(5, Db.toMicros(now));
      ps.executeUpdate();
      return true;
    } catch (SQLException e) {
      if (db.dialect().isDuplicateKey(e)) {
        return false;
      }
      throw e;
    }
  }

  @Override
  public boolean delete(ContainerName container) {
    return db.call(c -> {
      try (PreparedStatement ps = c.prepareStatement("DELETE FROM egress_policies WHERE container = ?")) {
        ps.setString(1, container.value());
        return ps.executeUpdate() > 0;
      }
    });
  }

  @Override
  public Map<ContainerName, Long> revisions(Collection<ContainerName> containers) {
    Map<ContainerName, Long> out = new HashMap<>();
    List<ContainerName> all = new ArrayList<>(new LinkedHashSet<>(containers));
    if (all.isEmpty()) {
      return out;
    }
    db.call(c -> {
      for (int from = 0; from < all.size(); from += REVISIONS_PER_STATEMENT) {
        List<ContainerName> chunk = all.subList(from, Math.min(all.size(), from + REVISIONS_PER_STATEMENT));
        String sql = "SELECT container, revision FROM egress_policies WHERE container IN ("
            + String.join(", ", java.util.Collections.nCopies(chunk.size(), "?")) + ")";
        try (PreparedStatement ps = c.prepareStatement(sql)) {
          for (int i = 0; i < chunk.size(); i++) {
            ps.setString(i + 1, chunk.get(i).value());
          }
          try (ResultSet rs = ps.executeQuery()) {
            while (rs.next()) {
              out.put(ContainerName.of(rs.getString(1)), rs.getLong(2));
            }
          }
        }
      }
      return null;
    });
    return out;
  }

  private static StoredEgressPolicy read(ResultSet rs) throws SQLException {
    ContainerName container = ContainerName.of(rs.getString("container"));
    EgressPolicy policy;
    try {
      policy = EgressPolicy.of(rs.getString("mode"), parse(rs.getString("allow_list")));
    } catch (ValidationException e) {
      // Rows are written by this store only: one that does not parse is damaged, not the caller's fault.
      throw ExtendException.internal("the stored egress policy of container " + container + " is damaged: "
          + e.getMessage(), e);
    }
    return new StoredEgressPolicy(container, policy, rs.getLong("revision"), Db.fromMicros(rs.getLong("updated_at")));
  }

  private static long revision() {
    long r;
    do {
      r = RANDOM.nextLong();
    } while (r == 0);
    return r;
  }

  private static String json(List<String> entries) {
    try {
      return JSON.writeValueAsString(entries);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
  }

  private static List<String> parse(String json) {
    try {
      return JSON.readValue(json, new TypeReference<List<String>>() {});
    } catch (JsonProcessingException e) {
      throw ExtendException.internal("a stored egress policy's entries are not a JSON array: " + e.getOriginalMessage(), e);
    }
  }
}
