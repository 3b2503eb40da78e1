package dev.extend.jdbc;

import dev.extend.ModuleRef;
import dev.extend.spi.BuildJob;
import dev.extend.spi.BuildQueue;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.time.Instant;
import java.util.Optional;

/**
 * The build queue in the {@code build_jobs} table, shared by every node.
 *
 * <p>{@link #take} locks the oldest available row with {@code SELECT ... FOR UPDATE SKIP LOCKED}
 * (MySQL 8, MariaDB 10.6+ and H2 2.x), so concurrent takers pass over each other's rows instead
 * of waiting, and leases it in the same transaction. The unique key on the module makes
 * {@link #enqueue} idempotent across nodes. Lease times come from the nodes' clocks, which are
 * expected to be synchronised (NTP) far more closely than a lease lasts.
 */
final class JdbcBuildQueue implements BuildQueue {

  private static final String PENDING = "PENDING";
  private static final String LEASED = "LEASED";

  private final Db db;

  JdbcBuildQueue(Db db) {
    this.db = db;
  }

  @Override
  public boolean enqueue(ModuleRef module) {
    return db.call(c -> {
      try (PreparedStatement ps = c.prepareStatement("INSERT INTO build_jobs (module_name, module_version, module_abi,"
          + " state, attempt, lease_owner, lease_expires_at, created_at) VALUES (?, ?, ?, ?, 0, NULL, NULL, ?)")) {
        ps.setString(1, module.name());
        ps.setString(2, module.version());
        ps.setInt(3, module.abi());
        ps.setString(4, PENDING);
        ps.setLong(5, Db.toMicros(Db.now()));
        ps.executeUpdate();
        return true;
      } catch (SQLException e) {
        if (db.dialect().isDuplicateKey(e)) {
          return false; // a job for this module is pending or leased already
        }
        throw e;
      }
    });
  }

  @Override
  public Optional<BuildJob> take(String workerId, Duration lease) {
    checkLease(workerId, lease);
    return db.transaction(c -> {
      // Read committed: rows the scan passes over are not kept locked (InnoDB), so takers and
      // enqueuers do not wait on each other.
      c.setTransactionIsolation(Connection.TRANSACTION_READ_COMMITTED);
      Instant now = Db.now();
      long id;
      int attempt;
      ModuleRef module;
      try (PreparedStatement ps = c.prepareStatement("SELECT id, module_name, module_version, attempt, module_abi"
          + " FROM build_jobs WHERE state = ? OR lease_expires_at < ?"
          + " ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED")) {
        ps.setString(1, PENDING);
        ps.setLong(2, Db.toMicros(now));
        try (ResultSet rs = ps.executeQuery()) {
          if (!rs.next()) {
            return Optional.empty();
          }
          id = rs.getLong(1);
          module = new ModuleRef(rs.getString(2), rs.getString(3), rs.getInt(5));
          attempt = rs.getInt(4);
        }
      }
      Instant expires = now.plus(lease);
      // The guard repeats the condition: a second line of defence should the lock be weaker
      // than expected; zero rows means another taker won.
      try (PreparedStatement ps = c.prepareStatement("UPDATE build_jobs SET state = ?, attempt = ?,"
          + " lease_owner = ?, lease_expires_at = ? WHERE id = ? AND attempt = ?"
          + " AND (state = ? OR lease_expires_at < ?)")) {
        ps.setString(1, LEASED);
        ps.setInt(2, attempt + 1);
        ps.setString(3, workerId);
        ps.setLong(4, Db.toMicros(expires));
        ps.setLong(5, id);
        ps.setInt(6, attempt);
        ps.setString(7, PENDING);
        ps.setLong(8, Db.toMicros(now));
        if (ps.executeUpdate() != 1) {
          return Optional.empty();
        }
      }
      return Optional.of(new BuildJob(id, module, attempt + 1, expires));
    });
  }

  @Override
  public boolean renew(BuildJob job, String workerId, Duration lease) {
    checkLease(workerId, lease);
    return db.call(c -> {
      // The attempt number identifies the lease: a re-take after expiry bumped it.
      try (PreparedStatement ps = c.prepareStatement("UPDATE build_jobs SET lease_expires_at = ?"
          + " WHERE id = ? AND attempt = ? AND lease_owner = ? AND state = ?")) {
        ps.setLong(1, Db.toMicros(Db.now().plus(lease)));
        ps.setLong(2, job.id());
        ps.setInt(3, job.attempt());
        ps.setString(4, workerId);
        ps.setString(5, LEASED);
        return ps.executeUpdate() == 1;
      }
    });
  }

  @Override
  public void complete(BuildJob job) {
    db.call(c -> {
      try (PreparedStatement ps = c.prepareStatement("DELETE FROM build_jobs WHERE id = ?")) {
        ps.setLong(1, job.id());
        return ps.executeUpdate();
      }
    });
  }

  @Override
  public int depth() {
    return db.call(c -> {
      try (PreparedStatement ps = c.prepareStatement("SELECT COUNT(*) FROM build_jobs");
          ResultSet rs = ps.executeQuery()) {
        rs.next();
        return rs.getInt(1);
      }
    });
  }

  private static void checkLease(String workerId, Duration lease) {
    if (workerId == null || workerId.isEmpty() || workerId.length() > 128) {
      throw new IllegalArgumentException("workerId must be 1-128 characters");
    }
    if (lease == null || lease.isNegative() || lease.isZero()) {
      throw new IllegalArgumentException("lease must be positive");
    }
  }
}
