package dev.extend.jdbc;

import dev.extend.ExtendException;
import dev.extend.UnavailableException;
import dev.extend.spi.Redact;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.SQLNonTransientConnectionException;
import java.sql.SQLRecoverableException;
import java.sql.SQLTimeoutException;
import java.sql.SQLTransientException;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import javax.sql.DataSource;

/**
 * The pool, the dialect and the one place where {@link SQLException}s become Extend errors.
 */
final class Db {

  /** Work done on a connection. */
  @FunctionalInterface
  interface Work<T> {
    T run(Connection c) throws SQLException;
  }

  private final DataSource dataSource;
  private final Dialect dialect;
  private final String name;

  Db(DataSource dataSource, Dialect dialect, String name) {
    this.dataSource = dataSource;
    this.dialect = dialect;
    this.name = name;
  }

  Dialect dialect() {
    return dialect;
  }

  /** The database as named in error messages (URL without parameters). */
  String name() {
    return name;
  }

  /** Runs {@code work} on a pooled connection in auto-commit mode. */
  <T> T call(Work<T> work) {
    try (Connection c = dataSource.getConnection()) {
      return work.run(c);
    } catch (SQLException e) {
      throw translate(e);
    }
  }

  /** Runs {@code work} in one transaction, committed when it returns, rolled back when it throws. */
  <T> T transaction(Work<T> work) {
    try (Connection c = dataSource.getConnection()) {
      c.setAutoCommit(false);
      try {
        T result = work.run(c);
        c.commit();
        return result;
      } catch (SQLException | RuntimeException | Error e) {
        try {
          c.rollback();
        } catch (SQLException suppressed) {
          e.addSuppressed(suppressed);
        }
        throw e;
      } finally {
        try {
          c.setAutoCommit(true);
        } catch (SQLException ignored) {
          // A broken connection is evicted by the pool; nothing to restore then.
        }
      }
    } catch (SQLException e) {
      throw translate(e);
    }
  }

  /** Maps a failure: connection loss and timeouts are 503, anything else is a bug (500). */
  ExtendException translate(SQLException e) {
    if (isUnavailable(e)) {
      return new UnavailableException("database " + name + " is unavailable: " + describe(e), e);
    }
    return ExtendException.internal("database " + name + " failed: " + e.getMessage(), e);
  }

  /**
   * A failure in one line: the first line of its message, and that of its root cause when it is
   * another (Connector/J's "Communications link failure" says why only in its cause, Hikari's
   * time-out only in the last connection failure), credentials in URLs masked.
   */
  static String describe(Throwable e) {
    Throwable root = e;
    while (root.getCause() != null && root.getCause() != root) {
      root = root.getCause();
    }
    String text = firstLine(e);
    String why = firstLine(root);
    if (root != e && !why.isEmpty() && !text.contains(why)) {
      text = text + " (" + why + ")";
    }
    return Redact.credentials(text);
  }

  private static String firstLine(Throwable t) {
    String m = t.getMessage();
    return m == null ? t.getClass().getSimpleName() : m.lines().findFirst().orElse("").strip();
  }

  static boolean isUnavailable(SQLException e) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t instanceof SQLTransientException // includes Hikari's connection-timeout error
          || t instanceof SQLRecoverableException
          || t instanceof SQLNonTransientConnectionException
          || t instanceof SQLTimeoutException
          || t instanceof java.io.IOException) {
        return true;
      }
      if (t instanceof SQLException s && s.getSQLState() != null
          && (s.getSQLState().startsWith("08") || s.getSQLState().startsWith("HYT"))) {
        return true;
      }
    }
    return false;
  }

  /** Now, at the precision every stored time has (microseconds). */
  static Instant now() {
    return Instant.now().truncatedTo(ChronoUnit.MICROS);
  }

  static long toMicros(Instant t) {
    return ChronoUnit.MICROS.between(Instant.EPOCH, t);
  }

  static Instant fromMicros(long micros) {
    return Instant.EPOCH.plus(micros, ChronoUnit.MICROS);
  }
}
