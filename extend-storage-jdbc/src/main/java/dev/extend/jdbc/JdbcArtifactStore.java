package dev.extend.jdbc;

import dev.extend.ExtendException;
import dev.extend.PayloadTooLargeException;
import dev.extend.spi.Artifact;
import dev.extend.spi.ArtifactStore;
import java.io.IOException;
import java.io.InputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.util.HexFormat;
import java.util.Optional;
import java.util.UUID;

/**
 * Blobs stored as 1 MiB rows of {@code artifact_chunks}. Chunks stream in both directions on
 * every driver with bounded memory, and keep each statement far below MySQL's
 * {@code max_allowed_packet} (16 MiB by default on MariaDB), whatever the blob's size.
 *
 * <p>Content is written under a fresh upload id; the {@code artifacts} row that maps the digest
 * to it is inserted last, so a blob is visible only once complete, and a lost race for the same
 * content just drops the loser's chunks. Uploads interrupted by a crash leave chunks no row
 * points to; {@link #sweep} removes those older than a day.
 */
final class JdbcArtifactStore implements ArtifactStore {

  static final int CHUNK_BYTES = 1 << 20;

  private final Db db;
  private final long maxArtifactBytes;

  JdbcArtifactStore(Db db, long maxArtifactBytes) {
    this.db = db;
    this.maxArtifactBytes = maxArtifactBytes;
  }

  @Override
  public Artifact put(InputStream content, long maxBytes) throws IOException {
    long cap = Math.min(maxBytes, maxArtifactBytes);
    // The upload id starts with the time in hex, so the sweep can pick old orphans by range.
    String uploadId = String.format("%016x-%s", System.currentTimeMillis(), UUID.randomUUID());
    MessageDigest sha = sha256();
    long size = 0;
    int seq = 0;
    boolean stored = false;
    try {
      while (true) {
        long remaining = cap - size;
        // Read one byte past the cap at most: enough to know the content is too large.
        byte[] chunk = content.readNBytes(remaining >= CHUNK_BYTES ? CHUNK_BYTES : (int) remaining + 1);
        if (chunk.length == 0) {
          break;
        }
        size += chunk.length;
        if (size > cap) {
          throw new PayloadTooLargeException("artifact: content is larger than " + cap + " bytes"
              + (cap == maxArtifactBytes && cap < maxBytes ? " (the store's artifact size cap)" : ""));
        }
        sha.update(chunk);
        int n = seq++;
        db.call(c -> {
          try (PreparedStatement ps = c.prepareStatement(
              "INSERT INTO artifact_chunks (upload_id, seq, data) VALUES (?, ?, ?)")) {
            ps.setString(1, uploadId);
            ps.setInt(2, n);
            ps.setBytes(3, chunk);
            return ps.executeUpdate();
          }
        });
      }
      String digest = HexFormat.of().formatHex(sha.digest());
      long total = size;
      int chunks = seq;
      stored = db.call(c -> {
        try (PreparedStatement ps = c.prepareStatement(
            "INSERT INTO artifacts (digest, upload_id, size, chunks, created_at) VALUES (?, ?, ?, ?, ?)")) {
          ps.setString(1, digest);
          ps.setString(2, uploadId);
          ps.setLong(3, total);
          ps.setInt(4, chunks);
          ps.setLong(5, Db.toMicros(Db.now()));
          ps.executeUpdate();
          return true;
        } catch (java.sql.SQLException e) {
          if (db.dialect().isDuplicateKey(e)) {
            return false; // same content stored already (or concurrently): keep that copy
          }
          throw e;
        }
      });
      return new Artifact(digest, size);
    } finally {
      if (!stored && seq > 0) {
        dropChunks(uploadId);
      }
    }
  }

  private void dropChunks(String uploadId) {
    try {
      db.call(c -> {
        try (PreparedStatement ps = c.prepareStatement("DELETE FROM artifact_chunks WHERE upload_id = ?")) {
          ps.setString(1, uploadId);
          return ps.executeUpdate();
        }
      });
    } catch (ExtendException e) {
      // Database gone mid-upload: the sweep removes these chunks later.
    }
  }

  @Override
  public Optional<InputStream> open(String digest) throws IOException {
    if (digest == null || !Artifact.isDigest(digest)) {
      return Optional.empty();
    }
    record Row(String uploadId, long size, int chunks) {}
    Row row = db.call(c -> {
      try (PreparedStatement ps = c.prepareStatement(
          "SELECT upload_id, size, chunks FROM artifacts WHERE digest = ?")) {
        ps.setString(1, digest);
        try (ResultSet rs = ps.executeQuery()) {
          return rs.next() ? new Row(rs.getString(1), rs.getLong(2), rs.getInt(3)) : null;
        }
      }
    });
    if (row == null) {
      return Optional.empty();
    }
    return Optional.of(new ChunkStream(digest, row.uploadId(), row.chunks()));
  }

  /** Reads one chunk per query, so no connection is held while the caller consumes the stream. */
  private final class ChunkStream extends InputStream {
    private final String digest;
    private final String uploadId;
    private final int chunks;
    private int next;
    private byte[] current = new byte[0];
    private int pos;

    ChunkStream(String digest, String uploadId, int chunks) {
      this.digest = digest;
      this.uploadId = uploadId;
      this.chunks = chunks;
    }

    private boolean fill() throws IOException {
      while (pos >= current.length) {
        if (next >= chunks) {
          return false;
        }
        int seq = next++;
        byte[] data = db.call(c -> {
          try (PreparedStatement ps = c.prepareStatement(
              "SELECT data FROM artifact_chunks WHERE upload_id = ? AND seq = ?")) {
            ps.setString(1, uploadId);
            ps.setInt(2, seq);
            try (ResultSet rs = ps.executeQuery()) {
              return rs.next() ? rs.getBytes(1) : null;
            }
          }
        });
        if (data == null) {
          throw new IOException("artifact " + digest + " was deleted while being read");
        }
        current = data;
        pos = 0;
      }
      return true;
    }

    @Override
    public int read() throws IOException {
      return fill() ? current[pos++] & 0xff : -1;
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
      if (len == 0) {
        return 0;
      }
      if (!fill()) {
        return -1;
      }
      int n = Math.min(len, current.length - pos);
      System.arraycopy(current, pos, b, off, n);
      pos += n;
      return n;
    }

    @Override
    public void close() {
      current = new byte[0];
      next = chunks;
    }
  }

  @Override
  public boolean exists(String digest) {
    if (digest == null || !Artifact.isDigest(digest)) {
      return false;
    }
    return db.call(c -> {
      try (PreparedStatement ps = c.prepareStatement("SELECT 1 FROM artifacts WHERE digest = ?")) {
        ps.setString(1, digest);
        try (ResultSet rs = ps.executeQuery()) {
          return rs.next();
        }
      }
    });
  }

  @Override
  public boolean delete(String digest) {
    if (digest == null || !Artifact.isDigest(digest)) {
      return false;
    }
    return db.transaction(c -> {
      String uploadId;
      try (PreparedStatement ps = c.prepareStatement(
          "SELECT upload_id FROM artifacts WHERE digest = ? FOR UPDATE")) {
        ps.setString(1, digest);
        try (ResultSet rs = ps.executeQuery()) {
          if (!rs.next()) {
            return false;
          }
          uploadId = rs.getString(1);
        }
      }
      try (PreparedStatement ps = c.prepareStatement("DELETE FROM artifacts WHERE digest = ?")) {
        ps.setString(1, digest);
        ps.executeUpdate();
      }
      try (PreparedStatement ps = c.prepareStatement("DELETE FROM artifact_chunks WHERE upload_id = ?")) {
        ps.setString(1, uploadId);
        ps.executeUpdate();
      }
      return true;
    });
  }

  /** Removes chunks of uploads that never completed and started more than a day ago. */
  int sweep() {
    String before = String.format("%016x", System.currentTimeMillis() - 86_400_000L);
    return db.call(c -> {
      try (PreparedStatement ps = c.prepareStatement("DELETE FROM artifact_chunks WHERE upload_id < ?"
          + " AND upload_id NOT IN (SELECT upload_id FROM artifacts)")) {
        ps.setString(1, before);
        return ps.executeUpdate();
      }
    });
  }

  private static MessageDigest sha256() {
    try {
      return MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("SHA-256 is missing from this JVM", e);
    }
  }
}
