package dev.extend.jdbc;

import dev.extend.ExtendException;
import dev.extend.WebhookRef;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * Whether this node's secret keys are the database's, so that every node reads the secrets
 * every other node writes.
 *
 * <p>The table {@code secret_keys} holds, per key id, a check value sealed with that key
 * ({@link SecretKeyRing#keyCheck}), recorded before the first secrets are written with it
 * ({@link #beforeWritingSecrets}). A node starts ({@link #verifyAtStartUp}) only when
 *
 * <ol>
 *   <li>its ring holds every key id that webhook secrets in the database name;
 *   <li>each of its keys whose id has a check opens that check: a key of the same id but other
 *       bytes (two nodes that each made their own {@code secret.keys}) is refused even before it
 *       wrote anything;
 *   <li>a key id that secrets name but no check records (rows written before checks existed)
 *       opens the secrets of the latest such row;
 *   <li>when the database records keys, the ring holds at least one of them.
 * </ol>
 *
 * <p>Webhooks without secrets name no key, so they never stop a node: on a database without
 * recorded keys any ring starts. Writes of secrets check the primary key the same way (2 and 4)
 * before they record it, so that a node that started before another recorded its keys does not
 * write secrets the others cannot read. Rotation works as before: a ring with a new primary key
 * and the old ones records the new key at its first write.
 */
final class SecretKeyChecks {

  private final Db db;
  private final SecretKeyRing keys;
  private volatile boolean primaryRecorded;

  SecretKeyChecks(Db db, SecretKeyRing keys) {
    this.db = db;
    this.keys = keys;
  }

  /** What start-up reads of the database, the input of {@link #problems}. */
  record Found(
      /* key ids that webhook secrets name */ Set<String> used,
      /* recorded check values by key id */ Map<String, byte[]> checks,
      /* for used key ids without a check: the latest row's secrets */ Map<String, Sample> samples) {}

  /** Secrets of one webhook row, as stored. */
  record Sample(WebhookRef ref, byte[] sealed) {}

  /**
   * Why a ring does not fit a database: key ids it lacks, key ids whose keys differ (both
   * sorted), and whether the database records keys of which it holds none.
   */
  record Problems(List<String> missing, List<String> differing, boolean noneHeld) {
    boolean none() {
      return missing.isEmpty() && differing.isEmpty() && !noneHeld;
    }
  }

  /** The decision of {@link #verifyAtStartUp}: no I/O, only the ring's cryptography. */
  static Problems problems(SecretKeyRing ring, Found found) {
    Set<String> missing = new TreeSet<>();
    Set<String> differing = new TreeSet<>();
    for (String id : found.used()) {
      if (!ring.contains(id)) {
        missing.add(id);
      }
    }
    for (String id : ring.ids()) {
      byte[] check = found.checks().get(id);
      if (check != null && !ring.opensKeyCheck(id, check)) {
        differing.add(id);
      }
    }
    found.samples().forEach((id, sample) -> {
      if (ring.contains(id) && !found.checks().containsKey(id)
          && !ring.opens(id, sample.sealed(), JdbcFunctionStore.associatedData(sample.ref()))) {
        differing.add(id);
      }
    });
    boolean noneHeld = !found.checks().isEmpty() && found.checks().keySet().stream().noneMatch(ring::contains);
    return new Problems(List.copyOf(missing), List.copyOf(differing), noneHeld);
  }

  /**
   * Refuses a ring that cannot read the database's secrets, or whose keys differ from those the
   * database records.
   *
   * @throws ExtendException ({@code secret_key_unavailable}) naming the key ids the database uses
   *     and the settings that supply keys
   */
  void verifyAtStartUp() {
    Found found = db.call(this::read);
    Problems p = problems(keys, found);
    if (!p.none()) {
      Set<String> databaseIds = new TreeSet<>(found.used());
      databaseIds.addAll(found.checks().keySet());
      throw refusal(p, databaseIds);
    }
  }

  /**
   * Called before secrets are encrypted with the primary key for a write: records the key's
   * check when the database has none for its id, else verifies it (once per process either way).
   *
   * @throws ExtendException ({@code secret_key_unavailable}) when another node recorded a
   *     different key of that id, rather than writing secrets it could not read
   */
  void beforeWritingSecrets() {
    if (primaryRecorded) {
      return;
    }
    String id = keys.primaryId();
    db.call(c -> {
      Map<String, byte[]> recorded = checks(c);
      if (!recorded.containsKey(id)) {
        Problems p = problems(keys, new Found(Set.of(), recorded, Map.of()));
        if (!p.none()) {
          throw refusal(p, recorded.keySet());
        }
        try (PreparedStatement ps = c.prepareStatement(
            "INSERT INTO secret_keys (id, key_check, created_at) VALUES (?, ?, ?)")) {
          ps.setString(1, id);
          ps.setBytes(2, keys.keyCheck());
          ps.setLong(3, Db.toMicros(Db.now()));
          ps.executeUpdate();
          return null;
        } catch (SQLException e) {
          if (!db.dialect().isDuplicateKey(e)) {
            throw e;
          }
          recorded = checks(c); // another node recorded one first: is it the same key?
        }
      }
      if (!keys.opensKeyCheck(id, recorded.get(id))) {
        throw refusal(new Problems(List.of(), List.of(id), false), recorded.keySet());
      }
      return null;
    });
    primaryRecorded = true;
  }

  private ExtendException refusal(Problems p, Set<String> databaseIds) {
    StringBuilder why = new StringBuilder("the secret keys " + keys.ids() + " of this node (from " + keys.origin()
        + ") do not fit database " + db.name() + ":");
    if (!p.missing().isEmpty()) {
      why.append(" its webhook secrets are encrypted with key(s) ").append(p.missing())
          .append(", which this node lacks;");
    }
    if (!p.differing().isEmpty()) {
      why.append(" this node's key(s) ").append(p.differing())
          .append(" differ from the key(s) of the same id that its secrets are encrypted with;");
    }
    if (p.noneHeld()) {
      why.append(" this node holds none of the keys the database records;");
    }
    why.append(" the database uses key(s) ").append(List.copyOf(databaseIds))
        .append(". Give this node the keys of the nodes already using it (primary first, older ones after it): ")
        .append(SecretKeyRing.ENV).append(" (id:base64key,...), or a key file named by ").append(SecretKeyRing.ENV_FILE)
        .append(" (default <data dir>/secret.keys)");
    return new ExtendException("secret_key_unavailable", 500, why.toString());
  }

  private Found read(Connection c) throws SQLException {
    Set<String> used = new TreeSet<>();
    try (PreparedStatement ps = c.prepareStatement(
        "SELECT DISTINCT secrets_key_id FROM webhooks WHERE secrets_key_id <> ''");
        ResultSet rs = ps.executeQuery()) {
      while (rs.next()) {
        used.add(rs.getString(1));
      }
    }
    Map<String, byte[]> checks = checks(c);
    Map<String, Sample> samples = new TreeMap<>();
    for (String id : used) {
      if (checks.containsKey(id) || !keys.contains(id)) {
        continue;
      }
      try (PreparedStatement ps = c.prepareStatement("SELECT container, name, secrets FROM webhooks"
          + " WHERE secrets_key_id = ? ORDER BY updated_at DESC LIMIT 1")) {
        ps.setString(1, id);
        try (ResultSet rs = ps.executeQuery()) {
          if (rs.next()) {
            samples.put(id, new Sample(WebhookRef.of(rs.getString(1), rs.getString(2)), rs.getBytes(3)));
          }
        }
      }
    }
    return new Found(used, checks, samples);
  }

  private static Map<String, byte[]> checks(Connection c) throws SQLException {
    Map<String, byte[]> checks = new TreeMap<>();
    try (PreparedStatement ps = c.prepareStatement("SELECT id, key_check FROM secret_keys");
        ResultSet rs = ps.executeQuery()) {
      while (rs.next()) {
        checks.put(rs.getString(1), rs.getBytes(2));
      }
    }
    return checks;
  }
}
