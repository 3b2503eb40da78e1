package dev.extend.jdbc;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.extend.ContainerName;
import dev.extend.ExtendException;
import dev.extend.Limits;
import dev.extend.ModuleRef;
import dev.extend.NotFoundException;
import dev.extend.Page;
import dev.extend.PayloadTooLargeException;
import dev.extend.ValidationException;
import dev.extend.VersionMismatchException;
import dev.extend.WebhookName;
import dev.extend.spi.WebhookRecord;
import dev.extend.WebhookRef;
import dev.extend.spi.FunctionStore;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.TreeMap;

/**
 * Webhooks in the {@code webhooks} table; secrets AES-GCM encrypted with the key ring's primary
 * key. A webhook without secrets stores none (an empty value and key id): reading it needs no key.
 */
final class JdbcFunctionStore implements FunctionStore {

  /**
   * Largest UTF-8 size of code, of the serialized secrets, meta and dependencies. Chosen so that
   * a webhook at every limit, even with each byte escaped on the wire, fits MariaDB's default
   * {@code max_allowed_packet} of 16 MiB.
   */
  static final int MAX_CODE_BYTES = 4 << 20;
  static final int MAX_SECRETS_BYTES = 1 << 20;
  static final int MAX_META_BYTES = 1 << 20;
  static final int MAX_DEPENDENCIES_BYTES = 1 << 20;

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final TypeReference<TreeMap<String, String>> MAP = new TypeReference<>() {};
  private static final String COLUMNS =
      "container, name, code, dependencies, secrets, secrets_key_id, meta, timeout_ms, memory_mb,"
          + " runtime, version, created_at, updated_at";

  /** The key id of a row without secrets. */
  static final String NO_KEY = "";

  private final Db db;
  private final SecretKeyRing keys;
  private final SecretKeyChecks checks;

  JdbcFunctionStore(Db db, SecretKeyRing keys, SecretKeyChecks checks) {
    this.db = db;
    this.keys = keys;
    this.checks = checks;
  }

  @Override
  public Optional<WebhookRecord> get(WebhookRef ref) {
    return db.call(c -> {
      try (PreparedStatement ps = c.prepareStatement(
          "SELECT " + COLUMNS + " FROM webhooks WHERE container = ? AND name = ?")) {
        ps.setString(1, ref.container().value());
        ps.setString(2, ref.name().value());
        try (ResultSet rs = ps.executeQuery()) {
          return rs.next() ? Optional.of(read(rs)) : Optional.empty();
        }
      }
    });
  }

  @Override
  public OptionalLong version(WebhookRef ref) {
    return db.call(c -> {
      Stored s = stored(c, ref);
      return s == null ? OptionalLong.empty() : OptionalLong.of(s.version);
    });
  }

  @Override
  public WebhookRecord put(WebhookRecord record, OptionalLong expectedVersion) {
    Encoded e = encode(record); // size checks and encryption before any SQL
    if (!e.keyId.equals(NO_KEY)) {
      checks.beforeWritingSecrets();
    }
    WebhookRef ref = record.ref();
    return db.call(c -> {
      // Optimistic loop: an insert that loses a creation race, or an update that loses to a
      // concurrent writer without an expected version, reads again and retries.
      while (true) {
        Stored s = stored(c, ref);
        Instant now = Db.now();
        if (s == null) {
          if (expectedVersion.isPresent()) {
            throw new NotFoundException("webhook " + ref + " does not exist (expected version "
                + expectedVersion.getAsLong() + ")");
          }
          if (insert(c, e, now)) {
            return record.withVersion(1, now, now);
          }
          continue;
        }
        long base = s.version;
        if (expectedVersion.isPresent() && expectedVersion.getAsLong() != base) {
          throw mismatch(ref, expectedVersion.getAsLong(), base);
        }
        Instant updated = now.isAfter(s.createdAt) ? now : s.createdAt;
        if (update(c, e, base, updated)) {
          return record.withVersion(base + 1, s.createdAt, updated);
        }
        if (expectedVersion.isPresent()) {
          // Moved (or vanished) between our read and our update.
          Stored after = stored(c, ref);
          if (after == null) {
            throw new NotFoundException("webhook " + ref + " was deleted concurrently");
          }
          throw mismatch(ref, expectedVersion.getAsLong(), after.version);
        }
      }
    });
  }

  @Override
  public boolean delete(WebhookRef ref, OptionalLong expectedVersion) {
    return db.call(c -> {
      String sql = "DELETE FROM webhooks WHERE container = ? AND name = ?"
          + (expectedVersion.isPresent() ? " AND version = ?" : "");
      try (PreparedStatement ps = c.prepareStatement(sql)) {
        ps.setString(1, ref.container().value());
        ps.setString(2, ref.name().value());
        if (expectedVersion.isPresent()) {
          ps.setLong(3, expectedVersion.getAsLong());
        }
        if (ps.executeUpdate() == 1) {
          return true;
        }
      }
      if (expectedVersion.isEmpty()) {
        return false;
      }
      Stored s = stored(c, ref);
      if (s == null) {
        throw new NotFoundException("webhook " + ref + " does not exist (expected version "
            + expectedVersion.getAsLong() + ")");
      }
      throw mismatch(ref, expectedVersion.getAsLong(), s.version);
    });
  }

  @Override
  public int count(ContainerName container, int atMost) {
    // Without reading (or decrypting) a record.
    return db.call(c -> {
      try (PreparedStatement ps = c.prepareStatement("SELECT COUNT(*) FROM webhooks WHERE container = ?")) {
        ps.setString(1, container.value());
        try (ResultSet rs = ps.executeQuery()) {
          rs.next();
          return (int) Math.min(Integer.MAX_VALUE, rs.getLong(1));
        }
      }
    });
  }

  @Override
  public Page<WebhookRecord> list(ContainerName container, int limit, String cursor) {
    if (limit < 1 || limit > 1000) {
      throw new ValidationException("limit", "must be between 1 and 1000, was " + limit);
    }
    String after = cursor == null ? null : decodeCursor(cursor);
    return db.call(c -> {
      String sql = "SELECT " + COLUMNS + " FROM webhooks WHERE container = ?"
          + (after == null ? "" : " AND name > ?") + " ORDER BY name LIMIT ?";
      try (PreparedStatement ps = c.prepareStatement(sql)) {
        int i = 1;
        ps.setString(i++, container.value());
        if (after != null) {
          ps.setString(i++, after);
        }
        ps.setInt(i, limit + 1);
        List<WebhookRecord> items = new ArrayList<>();
        try (ResultSet rs = ps.executeQuery()) {
          while (rs.next()) {
            items.add(read(rs));
          }
        }
        if (items.size() <= limit) {
          return new Page<>(items, null);
        }
        items = items.subList(0, limit);
        return new Page<>(items, encodeCursor(items.get(limit - 1).ref().name().value()));
      }
    });
  }

  // The cursor is the last name of the page: a position in name order, so inserts and deletes
  // of other webhooks never shift it.
  private static String encodeCursor(String lastName) {
    return Base64.getUrlEncoder().withoutPadding().encodeToString(("w1:" + lastName).getBytes(StandardCharsets.UTF_8));
  }

  private static String decodeCursor(String cursor) {
    try {
      String s = new String(Base64.getUrlDecoder().decode(cursor), StandardCharsets.UTF_8);
      if (s.startsWith("w1:")) {
        return WebhookName.of(s.substring(3)).value();
      }
    } catch (IllegalArgumentException | ValidationException e) {
      // fall through: not one of ours
    }
    throw new ValidationException("cursor", "is not a cursor of this listing");
  }

  private static VersionMismatchException mismatch(WebhookRef ref, long expected, long actual) {
    return new VersionMismatchException("webhook " + ref + " is at version " + actual + ", not " + expected);
  }

  private record Stored(long version, Instant createdAt) {}

  private static Stored stored(Connection c, WebhookRef ref) throws SQLException {
    try (PreparedStatement ps = c.prepareStatement(
        "SELECT version, created_at FROM webhooks WHERE container = ? AND name = ?")) {
      ps.setString(1, ref.container().value());
      ps.setString(2, ref.name().value());
      try (ResultSet rs = ps.executeQuery()) {
        return rs.next() ? new Stored(rs.getLong(1), Db.fromMicros(rs.getLong(2))) : null;
      }
    }
  }

  private record Encoded(WebhookRef ref, String code, String dependencies, byte[] secrets, String keyId,
      String meta, Limits limits, String runtime) {}

  private Encoded encode(WebhookRecord r) {
    checkSize("code", r.code().getBytes(StandardCharsets.UTF_8).length, MAX_CODE_BYTES);
    List<String> deps = new ArrayList<>();
    for (ModuleRef m : r.dependencies()) {
      deps.add(m.spec());
    }
    String dependencies = json(deps);
    checkSize("dependencies", dependencies.getBytes(StandardCharsets.UTF_8).length, MAX_DEPENDENCIES_BYTES);
    byte[] secrets = json(new TreeMap<>(r.secrets())).getBytes(StandardCharsets.UTF_8);
    checkSize("secrets", secrets.length, MAX_SECRETS_BYTES);
    String meta = json(new TreeMap<>(r.meta()));
    checkSize("meta", meta.getBytes(StandardCharsets.UTF_8).length, MAX_META_BYTES);
    if (r.secrets().isEmpty()) {
      return new Encoded(r.ref(), r.code(), dependencies, new byte[0], NO_KEY, meta, r.limits(), r.runtime());
    }
    byte[] sealed = keys.encrypt(secrets, associatedData(r.ref()));
    return new Encoded(r.ref(), r.code(), dependencies, sealed, keys.primaryId(), meta, r.limits(), r.runtime());
  }

  private static void checkSize(String field, int bytes, int max) {
    if (bytes > max) {
      throw new PayloadTooLargeException(field + ": " + bytes + " bytes is more than the JDBC store holds ("
          + max + " bytes)");
    }
  }

  // Binds a ciphertext to its row: secrets copied to another webhook's row do not decrypt.
  static byte[] associatedData(WebhookRef ref) {
    return ("webhook:" + ref).getBytes(StandardCharsets.UTF_8);
  }

  private boolean insert(Connection c, Encoded e, Instant now) throws SQLException {
    try (PreparedStatement ps = c.prepareStatement("INSERT INTO webhooks (" + COLUMNS
        + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?)")) {
      ps.setString(1, e.ref.container().value());
      ps.setString(2, e.ref.name().value());
      ps.setString(3, e.code);
      ps.setString(4, e.dependencies);
      ps.setBytes(5, e.secrets);
      ps.setString(6, e.keyId);
      ps.setString(7, e.meta);
      ps.setLong(8, e.limits.timeoutMs());
      ps.setInt(9, e.limits.memoryMb());
      ps.setString(10, e.runtime);
      ps.setLong(11, Db.toMicros(now));
      ps.setLong(12, Db.toMicros(now));
      ps.executeUpdate();
      return true;
    } catch (SQLException ex) {
      if (db.dialect().isDuplicateKey(ex)) {
        return false; // lost a creation race: the caller retries as an update
      }
      throw ex;
    }
  }

  private static boolean update(Connection c, Encoded e, long base, Instant now) throws SQLException {
    try (PreparedStatement ps = c.prepareStatement("UPDATE webhooks SET code = ?, dependencies = ?, secrets = ?,"
        + " secrets_key_id = ?, meta = ?, timeout_ms = ?, memory_mb = ?, runtime = ?, version = ?,"
        + " updated_at = ? WHERE container = ? AND name = ? AND version = ?")) {
      ps.setString(1, e.code);
      ps.setString(2, e.dependencies);
      ps.setBytes(3, e.secrets);
      ps.setString(4, e.keyId);
      ps.setString(5, e.meta);
      ps.setLong(6, e.limits.timeoutMs());
      ps.setInt(7, e.limits.memoryMb());
      ps.setString(8, e.runtime);
      ps.setLong(9, base + 1);
      ps.setLong(10, Db.toMicros(now));
      ps.setString(11, e.ref.container().value());
      ps.setString(12, e.ref.name().value());
      ps.setLong(13, base);
      return ps.executeUpdate() == 1;
    }
  }

  private WebhookRecord read(ResultSet rs) throws SQLException {
    WebhookRef ref = WebhookRef.of(rs.getString("container"), rs.getString("name"));
    List<ModuleRef> deps = new ArrayList<>();
    for (String spec : parse(rs.getString("dependencies"), new TypeReference<List<String>>() {})) {
      deps.add(ModuleRef.parse(spec));
    }
    Map<String, String> secrets = secrets(ref, rs.getString("secrets_key_id"), rs.getBytes("secrets"));
    Map<String, String> meta = parse(rs.getString("meta"), MAP);
    Limits limits = new Limits(Duration.ofMillis(rs.getLong("timeout_ms")), rs.getInt("memory_mb"));
    return new WebhookRecord(ref, rs.getString("code"), deps, secrets, meta, limits, rs.getString("runtime"),
        rs.getLong("version"),
        Db.fromMicros(rs.getLong("created_at")), Db.fromMicros(rs.getLong("updated_at")));
  }

  private Map<String, String> secrets(WebhookRef ref, String keyId, byte[] stored) {
    if (keyId.equals(NO_KEY)) {
      if (stored.length != 0) {
        throw ExtendException.internal("webhook " + ref + " has secrets but no key id: the row is corrupt", null);
      }
      return Map.of();
    }
    byte[] plain = keys.decrypt(keyId, stored, associatedData(ref), "secrets of webhook " + ref);
    return parse(new String(plain, StandardCharsets.UTF_8), MAP);
  }

  private static String json(Object value) {
    try {
      return JSON.writeValueAsString(value);
    } catch (JsonProcessingException e) {
      throw ExtendException.internal("cannot serialize " + value.getClass().getSimpleName(), e);
    }
  }

  private static <T> T parse(String json, TypeReference<T> type) {
    try {
      return JSON.readValue(json, type);
    } catch (JsonProcessingException e) {
      throw ExtendException.internal("stored JSON is corrupt: " + e.getOriginalMessage(), e);
    }
  }
}
