package dev.extend.internal.memory;

import dev.extend.PayloadTooLargeException;
import dev.extend.spi.Artifact;
import dev.extend.spi.ArtifactStore;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/** An {@link ArtifactStore} in memory (holds blobs whole: for tests and development). */
public final class InMemoryArtifactStore implements ArtifactStore {
  private final Map<String, byte[]> blobs = new ConcurrentHashMap<>();

  @Override
  public Artifact put(InputStream content, long maxBytes) throws IOException {
    MessageDigest sha = sha256();
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    byte[] buf = new byte[64 * 1024];
    long total = 0;
    for (int n; (n = content.read(buf)) > 0; ) {
      total += n;
      if (total > maxBytes) {
        throw new PayloadTooLargeException("artifact exceeds " + maxBytes + " bytes");
      }
      sha.update(buf, 0, n);
      out.write(buf, 0, n);
    }
    String digest = HexFormat.of().formatHex(sha.digest());
    blobs.putIfAbsent(digest, out.toByteArray());
    return new Artifact(digest, total);
  }

  @Override
  public Optional<InputStream> open(String digest) {
    byte[] b = Artifact.isDigest(digest) ? blobs.get(digest) : null;
    return b == null ? Optional.empty() : Optional.of(new ByteArrayInputStream(b));
  }

  @Override
  public boolean exists(String digest) {
    return Artifact.isDigest(digest) && blobs.containsKey(digest);
  }

  @Override
  public boolean delete(String digest) {
    return Artifact.isDigest(digest) && blobs.remove(digest) != null;
  }

  static MessageDigest sha256() {
    try {
      return MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
