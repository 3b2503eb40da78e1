package dev.extend.jdbc;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import dev.extend.ExtendException;
import dev.extend.UnavailableException;
import dev.extend.spi.ArtifactStore;
import dev.extend.spi.BuildQueue;
import dev.extend.spi.EgressStore;
import dev.extend.spi.FunctionStore;
import dev.extend.spi.ModuleStore;
import dev.extend.spi.Redact;
import dev.extend.spi.Storage;
import dev.extend.spi.TokenStore;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import org.flywaydb.core.Flyway;
import org.flywaydb.core.api.FlywayException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Every Extend store over one JDBC database: webhooks, module records, artifacts, the build
 * queue, API tokens and egress policies. MySQL 8 and MariaDB 10.6+ serve many nodes at once; an
 * H2 file database ({@link #h2}) is the embedded default for a single node.
 *
 * <p>Start-up validates the configuration, makes a first connection (a refused login or a
 * missing database fails at once, with the database's answer), opens a HikariCP pool and applies
 * the schema migrations (Flyway; nodes starting together take turns on its lock). Stores share
 * the pool: closing a store does nothing, {@link #close()} closes them all.
 *
 * <p>Every node on one database needs the same secret keys: start-up refuses a ring that lacks
 * a key the stored secrets use, or whose key of an id differs from the one the database records
 * for that id (a check value written with the first secrets encrypted with it). Webhooks without
 * secrets need no key.
 *
 * <p>When the database is unreachable, store calls throw {@link UnavailableException} after at
 * most the connection timeout, naming the database; the pool reconnects by itself once the
 * database is back.
 *
 * <p>A store call that returned has committed its write, and the write survives a crash of this
 * process: every statement runs in auto-commit mode or in a transaction committed before the
 * call returns, and H2 runs with {@code WRITE_DELAY=0}, so that its commit writes to the file
 * before it returns. MySQL and MariaDB keep a commit across a crash of the server as well with
 * their default {@code innodb_flush_log_at_trx_commit=1}.
 *
 * <p>A platform given no stores opens one by itself when this module is on the class path
 * ({@link JdbcStorageProvider}); give it one ({@code ServerlessPlatform.builder().storage(...)})
 * to choose the database in code:
 *
 * <pre>{@code
 * JdbcStorage storage = JdbcStorage.builder()
 *     .jdbcUrl("jdbc:mysql://db:3306/extend").user("extend").password(pw)
 *     .secretKeys(SecretKeyRing.fromEnvironment())
 *     .build();
 * }</pre>
 */
public final class JdbcStorage implements Storage {

  private static final Logger LOG = LoggerFactory.getLogger(JdbcStorage.class);

  private final HikariDataSource dataSource;
  private final Db db;
  private final JdbcFunctionStore functions;
  private final JdbcArtifactStore artifacts;
  private final JdbcModuleStore modules;
  private final JdbcBuildQueue queue;
  private final JdbcTokenStore tokens;
  private final JdbcEgressStore egress;

  private JdbcStorage(Builder b) {
    Dialect dialect = Dialect.of(b.jdbcUrl);
    String url = driverUrl(dialect, b.jdbcUrl);
    String name = displayName(b.jdbcUrl);
    Properties driver = new Properties();
    dialect.driverProperties(b.connectionTimeout.toMillis(), b.socketTimeout.toMillis()).forEach(driver::setProperty);
    // Held until start-up is done: it reports a refused login at once, and keeps an H2 database
    // open while the pool opens its first connections.
    Connection first = firstConnection(dialect, url, driver, b, name);
    HikariConfig config = new HikariConfig();
    config.setPoolName("extend-jdbc");
    config.setJdbcUrl(url);
    // Only credentials given separately: an empty user or password here would override those of
    // the URL (user=...&password=..., H2's ;USER=...;PASSWORD=...).
    if (b.user != null) {
      config.setUsername(b.user);
    }
    if (b.password != null) {
      config.setPassword(b.password);
    }
    // The stores rely on it: a statement outside Db.transaction is its own committed transaction.
    config.setAutoCommit(true);
    config.setMaximumPoolSize(b.poolSize);
    config.setMinimumIdle(Math.min(2, b.poolSize));
    long timeoutMs = b.connectionTimeout.toMillis();
    config.setConnectionTimeout(timeoutMs);
    config.setValidationTimeout(Math.max(250, Math.min(1000, timeoutMs / 2)));
    // The first connection above has reported why the database cannot be used; the pool itself
    // does not try in its constructor.
    config.setInitializationFailTimeout(-1);
    config.setDataSourceProperties(driver);
    try {
      this.dataSource = new HikariDataSource(config);
    } catch (RuntimeException e) {
      closeQuietly(first);
      throw e;
    }
    this.db = new Db(dataSource, dialect, name);
    try {
      migrate(dialect, name);
      // Fails at start-up, naming the key ids, rather than at the first read of a webhook.
      SecretKeyChecks keyChecks = new SecretKeyChecks(db, b.keys);
      keyChecks.verifyAtStartUp();
      if (dialect == Dialect.MYSQL) {
        checkPacketSize();
      }
      this.functions = new JdbcFunctionStore(db, b.keys, keyChecks);
      this.artifacts = new JdbcArtifactStore(db, b.maxArtifactBytes);
      this.modules = new JdbcModuleStore(db);
      this.queue = new JdbcBuildQueue(db);
      this.tokens = new JdbcTokenStore(db);
      this.egress = new JdbcEgressStore(db);
      int swept = artifacts.sweep();
      if (swept > 0) {
        LOG.info("Removed {} chunks of artifact uploads that never completed", swept);
      }
    } catch (RuntimeException e) {
      dataSource.close();
      throw e;
    } finally {
      closeQuietly(first);
    }
    LOG.info("JDBC storage ready on {} ({}, pool of {}, secret keys {})", name, dialect, b.poolSize, b.keys.ids());
  }

  /**
   * One connection made the way the pool makes them, so that start-up fails with the database's
   * own answer: at once when it refuses the login or does not know the database, after the
   * connection timeout when it cannot be reached (it may be starting too).
   */
  private static Connection firstConnection(Dialect dialect, String url, Properties driver, Builder b, String name) {
    Properties props = new Properties();
    props.putAll(driver);
    if (b.user != null) {
      props.setProperty("user", b.user);
    }
    if (b.password != null) {
      props.setProperty("password", b.password);
    }
    long deadline = System.nanoTime() + b.connectionTimeout.toNanos();
    while (true) {
      try {
        return DriverManager.getConnection(url, props);
      } catch (SQLException e) {
        if (!Db.isUnavailable(e) || System.nanoTime() - deadline >= 0) {
          throw startUpFailure(dialect, name, e, b.connectionTimeout);
        }
      }
      try {
        Thread.sleep(200);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new UnavailableException("database " + name + ": interrupted while connecting at start-up");
      }
    }
  }

  /**
   * What the operator reads when the first connection fails: the database's answer (never a
   * password: URLs in it are redacted) and the setting to look at.
   */
  static RuntimeException startUpFailure(Dialect dialect, String name, SQLException e, Duration timeout) {
    String cause = Db.describe(e);
    if (dialect.isLoginRefused(e)) {
      return new IllegalStateException("database " + name + " refused the login: " + cause + ". Check the user and"
          + " password: EXTEND_JDBC_USER and EXTEND_JDBC_PASSWORD (builder: user, password), or those in the URL"
          + " (user=...&password=...; H2: ;USER=...;PASSWORD=...)", e);
    }
    if (dialect.isUnknownDatabase(e)) {
      return new IllegalStateException("database " + name + " does not exist: " + cause + ". Create it (MySQL,"
          + " MariaDB: CREATE DATABASE ... CHARACTER SET utf8mb4 COLLATE utf8mb4_bin) or correct the database"
          + " named in EXTEND_JDBC_URL", e);
    }
    if (Db.isUnavailable(e)) {
      return new UnavailableException("database " + name + " is unavailable at start-up (tried for "
          + timeout.toMillis() + " ms): " + cause + ". Check that the server runs and that EXTEND_JDBC_URL names"
          + " its host and port", e);
    }
    return new IllegalStateException("database " + name + " cannot be opened: " + cause, e);
  }

  private static void closeQuietly(Connection c) {
    try {
      c.close();
    } catch (SQLException ignored) {
      // Only the start-up connection; the pool has its own.
    }
  }

  private void migrate(Dialect dialect, String name) {
    try {
      Flyway.configure(JdbcStorage.class.getClassLoader())
          .dataSource(dataSource)
          .locations("classpath:dev/extend/jdbc/migration")
          .table("extend_schema_history")
          .placeholders(dialect.placeholders())
          .load()
          .migrate();
    } catch (FlywayException e) {
      for (Throwable t = e; t != null; t = t.getCause()) {
        if (t instanceof SQLException s && Db.isUnavailable(s)) {
          throw new UnavailableException("database " + name + " is unavailable at start-up: " + Db.describe(s), e);
        }
      }
      throw new IllegalStateException("schema migration of database " + name + " failed: "
          + Redact.credentials(e.getMessage()), e);
    }
  }

  /**
   * Largest statement the stores send: a webhook at every size limit, each byte escaped (two
   * bytes on the wire), plus the statement itself.
   */
  static final long LARGEST_STATEMENT_BYTES = 2L * (JdbcFunctionStore.MAX_CODE_BYTES
      + JdbcFunctionStore.MAX_SECRETS_BYTES + JdbcFunctionStore.MAX_META_BYTES
      + JdbcFunctionStore.MAX_DEPENDENCIES_BYTES + 64) + 64 * 1024;

  // A statement larger than max_allowed_packet fails on the server; say so once at start-up.
  private void checkPacketSize() {
    long packet = db.call(c -> {
      try (PreparedStatement ps = c.prepareStatement("SELECT @@max_allowed_packet");
          ResultSet rs = ps.executeQuery()) {
        return rs.next() ? rs.getLong(1) : Long.MAX_VALUE;
      }
    });
    if (packet < LARGEST_STATEMENT_BYTES) {
      LOG.warn("max_allowed_packet of {} is {} bytes; webhooks near the store's size limits need {} bytes:"
          + " raise it to at least 16M (artifacts are unaffected: they travel in 1 MiB chunks)",
          db.name(), packet, LARGEST_STATEMENT_BYTES);
    }
  }

  /** A new builder. */
  public static Builder builder() {
    return new Builder();
  }

  /**
   * The embedded default: an H2 file database {@code <dataDir>/extend.mv.db}.
   *
   * @param dataDir directory of the database files (created when missing)
   * @param keys the secret key ring, e.g. {@code SecretKeyRing.loadOrCreate(dataDir.resolve("secret.keys"))}
   */
  public static JdbcStorage h2(Path dataDir, SecretKeyRing keys) throws IOException {
    Files.createDirectories(dataDir);
    return builder().jdbcUrl("jdbc:h2:file:" + dataDir.toAbsolutePath().resolve("extend"))
        .user("sa").password("").secretKeys(keys).build();
  }

  /**
   * Storage configured by environment variables: {@code EXTEND_JDBC_URL} (default: the H2 file
   * database in {@code dataDir}), {@code EXTEND_JDBC_USER}, {@code EXTEND_JDBC_PASSWORD},
   * {@code EXTEND_JDBC_POOL_SIZE}, and the secret keys from {@value SecretKeyRing#ENV}, else the
   * key file named by {@value SecretKeyRing#ENV_FILE}, else the key file
   * {@code <dataDir>/secret.keys} (created on first start).
   */
  public static JdbcStorage fromEnvironment(Map<String, String> env, Path dataDir) throws IOException {
    String keySpec = env.get(SecretKeyRing.ENV);
    String keyFile = env.get(SecretKeyRing.ENV_FILE);
    SecretKeyRing keys;
    if (keySpec != null && !keySpec.isBlank()) {
      keys = SecretKeyRing.parse(keySpec, SecretKeyRing.ENV);
    } else if (keyFile != null && !keyFile.isBlank()) {
      keys = SecretKeyRing.fromFile(Path.of(keyFile));
    } else {
      keys = SecretKeyRing.loadOrCreate(dataDir.resolve("secret.keys"));
    }
    String url = env.get("EXTEND_JDBC_URL");
    if (url == null || url.isBlank()) {
      return h2(dataDir, keys);
    }
    // Unset or empty: the URL's own credentials, if any (an empty password is no password).
    Builder b = builder().jdbcUrl(url).user(nonBlank(env.get("EXTEND_JDBC_USER")))
        .password(nonBlank(env.get("EXTEND_JDBC_PASSWORD"))).secretKeys(keys);
    String pool = env.get("EXTEND_JDBC_POOL_SIZE");
    if (pool != null && !pool.isBlank()) {
      try {
        b.poolSize(Integer.parseInt(pool.strip()));
      } catch (NumberFormatException e) {
        throw new IllegalArgumentException("EXTEND_JDBC_POOL_SIZE must be a number, was '" + pool + "'");
      }
    }
    return b.build();
  }

  private static String nonBlank(String s) {
    return s == null || s.isBlank() ? null : s;
  }

  /** Webhooks, secrets encrypted at rest. */
  @Override
  public FunctionStore functionStore() {
    return functions;
  }

  /** Content-addressed blobs, streamed in 1 MiB chunks. */
  @Override
  public ArtifactStore artifactStore() {
    return artifacts;
  }

  /** Module build records. */
  @Override
  public ModuleStore moduleStore() {
    return modules;
  }

  /** The build queue, shared by every node on this database. */
  @Override
  public BuildQueue buildQueue() {
    return queue;
  }

  /** API tokens (hashes only). */
  @Override
  public TokenStore tokenStore() {
    return tokens;
  }

  /** Per-container egress policies, shared by every node on this database. */
  @Override
  public EgressStore egressStore() {
    return egress;
  }

  /** The database as named in logs and errors (its URL without parameters). */
  public String databaseName() {
    return db.name();
  }

  /** Closes the connection pool; the stores are unusable afterwards. Closing twice does nothing more. */
  @Override
  public void close() {
    dataSource.close();
  }

  @Override
  public String toString() {
    return "JdbcStorage[" + db.name() + "]";
  }

  /**
   * The H2 URL the pool opens. H2 must run in MySQL mode for the shared SQL, with lower-case
   * identifiers as MySQL reports them.
   *
   * <p>{@code WRITE_DELAY=0}: by default H2 (MVStore) leaves a committed transaction in memory
   * and a background thread writes it to the file up to 500 ms later, so a process killed in
   * that window loses writes the store already acknowledged. With a write delay of 0 the commit
   * itself writes the changes to the file before it returns, in the committing thread (H2's
   * {@code TransactionStore.endTransaction} calls {@code MVStore.commit()}, a synchronous
   * store, whenever the auto-commit delay is 0). The write reaches the operating system, not
   * the disk: it survives the death of this process, not of the machine (H2 forces the file to
   * the device only on close and on {@code CHECKPOINT SYNC}). The setting is read when the
   * database opens, and each new connection sets it again (which needs an admin user), so it
   * must be in the URL: a stored {@code SET WRITE_DELAY} is replaced by the default at the next
   * open.
   */
  static String h2Url(String url) {
    String upper = url.toUpperCase(Locale.ROOT);
    if (upper.contains(";MODE=") && !upper.contains(";MODE=MYSQL")) {
      throw new IllegalArgumentException("jdbcUrl: H2 must run in MySQL mode (;MODE=MySQL), was " + url);
    }
    String writeDelay = h2Setting(url, "WRITE_DELAY");
    if (writeDelay != null && !writeDelay.strip().equals("0")) {
      throw new IllegalArgumentException("jdbcUrl: WRITE_DELAY=" + writeDelay + " would lose acknowledged writes"
          + " when the process dies; leave it out (the store sets WRITE_DELAY=0), was " + url);
    }
    StringBuilder sb = new StringBuilder(url);
    if (!upper.contains(";MODE=")) {
      sb.append(";MODE=MySQL");
    }
    if (!upper.contains(";DATABASE_TO_LOWER=")) {
      sb.append(";DATABASE_TO_LOWER=TRUE");
    }
    if (!upper.contains(";LOCK_TIMEOUT=")) {
      sb.append(";LOCK_TIMEOUT=10000");
    }
    if (writeDelay == null) {
      sb.append(";WRITE_DELAY=0");
    }
    return sb.toString();
  }

  // The value of ";NAME=value" in an H2 URL (names are case-insensitive), or null.
  private static String h2Setting(String url, String name) {
    String key = ";" + name.toUpperCase(Locale.ROOT) + "=";
    int i = url.toUpperCase(Locale.ROOT).indexOf(key);
    if (i < 0) {
      return null;
    }
    int start = i + key.length();
    int end = url.indexOf(';', start);
    return url.substring(start, end < 0 ? url.length() : end);
  }

  /**
   * The URL the driver opens: H2's with the settings the store needs; {@code jdbc:mariadb:} as
   * {@code jdbc:mysql:}, since MySQL Connector/J, the driver on the class path, serves MariaDB but
   * knows only its own prefix.
   */
  static String driverUrl(Dialect dialect, String url) {
    if (dialect == Dialect.H2) {
      return h2Url(url);
    }
    String mariadb = "jdbc:mariadb:";
    return url.regionMatches(true, 0, mariadb, 0, mariadb.length())
        ? "jdbc:mysql:" + url.substring(mariadb.length()) : url;
  }

  // Without parameters (?user=..&password=.., ;PASSWORD=..) and user info (user:password@host).
  static String displayName(String url) {
    int end = url.length();
    for (char c : new char[] {'?', ';'}) {
      int i = url.indexOf(c);
      if (i >= 0 && i < end) {
        end = i;
      }
    }
    return Redact.credentials(url.substring(0, end));
  }

  /** Configuration of a {@link JdbcStorage}, validated by {@link #build()}. */
  public static final class Builder {
    private String jdbcUrl;
    private String user;
    private String password;
    private int poolSize = 10;
    private SecretKeyRing keys;
    private long maxArtifactBytes = 1L << 30;
    private Duration connectionTimeout = Duration.ofMillis(2500);
    private Duration socketTimeout = Duration.ofSeconds(60);

    private Builder() {}

    /**
     * The database, e.g. {@code jdbc:mysql://db:3306/extend}, {@code jdbc:mariadb://db:3306/extend}
     * (opened with MySQL Connector/J too, so its options are Connector/J's) or
     * {@code jdbc:h2:file:/data/extend}. Required. Credentials may be part of it
     * ({@code ?user=...&password=...}, H2's {@code ;USER=...;PASSWORD=...}) when {@link #user} and
     * {@link #password} are not given. On H2 the store adds {@code MODE=MySQL}, {@code DATABASE_TO_LOWER=TRUE},
     * {@code LOCK_TIMEOUT} and {@code WRITE_DELAY=0} (a non-zero write delay is refused: it loses
     * acknowledged writes when the process dies); the H2 user must be an admin, as setting the
     * write delay needs it.
     */
    public Builder jdbcUrl(String jdbcUrl) {
      this.jdbcUrl = jdbcUrl;
      return this;
    }

    /**
     * The database user; null (the default) leaves it to the URL ({@code ?user=...}, H2's
     * {@code ;USER=...}) or the driver's default.
     */
    public Builder user(String user) {
      this.user = user;
      return this;
    }

    /** The database password; null (the default) leaves it to the URL or the driver's default. */
    public Builder password(String password) {
      this.password = password;
      return this;
    }

    /** Maximum connections in the pool (1..200, default 10). */
    public Builder poolSize(int poolSize) {
      this.poolSize = poolSize;
      return this;
    }

    /** The keys that encrypt webhook secrets. Required. */
    public Builder secretKeys(SecretKeyRing keys) {
      this.keys = keys;
      return this;
    }

    /** The largest artifact the store accepts, whatever callers ask for (default 1 GiB). */
    public Builder maxArtifactBytes(long maxArtifactBytes) {
      this.maxArtifactBytes = maxArtifactBytes;
      return this;
    }

    /**
     * How long a call waits for a connection before it fails with {@link UnavailableException}
     * (250 ms..60 s, default 2.5 s). Also bounds connecting to MySQL.
     */
    public Builder connectionTimeout(Duration connectionTimeout) {
      this.connectionTimeout = connectionTimeout;
      return this;
    }

    /**
     * How long a MySQL statement may wait for the server's answer before the connection is
     * considered lost (default 60 s): bounds calls when the server hangs instead of refusing.
     */
    public Builder socketTimeout(Duration socketTimeout) {
      this.socketTimeout = socketTimeout;
      return this;
    }

    /**
     * Validates the configuration, connects, and applies the schema migrations.
     *
     * @throws IllegalArgumentException naming the setting at fault
     * @throws IllegalStateException when the database refuses the login or does not exist (or
     *     cannot be opened for another reason), with its answer
     * @throws UnavailableException when the database cannot be reached within the connection
     *     timeout, with the driver's cause
     * @throws ExtendException ({@code secret_key_unavailable}) when stored secrets use a key the
     *     ring lacks, or a key of the ring differs from the one of the same id that the database
     *     records (see {@link SecretKeyRing}); the message names the database's key ids
     */
    public JdbcStorage build() {
      if (jdbcUrl == null || jdbcUrl.isBlank()) {
        throw new IllegalArgumentException("jdbcUrl is required");
      }
      Dialect.of(jdbcUrl);
      if (poolSize < 1 || poolSize > 200) {
        throw new IllegalArgumentException("poolSize must be between 1 and 200, was " + poolSize);
      }
      if (keys == null) {
        throw new IllegalArgumentException("secretKeys is required (e.g. SecretKeyRing.fromEnvironment())");
      }
      if (maxArtifactBytes < 1) {
        throw new IllegalArgumentException("maxArtifactBytes must be positive, was " + maxArtifactBytes);
      }
      if (connectionTimeout == null || connectionTimeout.toMillis() < 250 || connectionTimeout.toSeconds() > 60) {
        throw new IllegalArgumentException("connectionTimeout must be between 250 ms and 60 s, was "
            + connectionTimeout);
      }
      if (socketTimeout == null || socketTimeout.toMillis() < 1000) {
        throw new IllegalArgumentException("socketTimeout must be at least 1 s, was " + socketTimeout);
      }
      return new JdbcStorage(this);
    }
  }
}
