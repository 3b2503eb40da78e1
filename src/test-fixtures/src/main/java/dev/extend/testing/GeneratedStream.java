package dev.extend.testing;

import java.io.InputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.SplittableRandom;

/**
 * A deterministic pseudo-random stream of a given length that holds nothing but a small
 * buffer: for streaming tests of large blobs. The same seed and length give the same bytes.
 */
public final class GeneratedStream extends InputStream {
  private final SplittableRandom random;
  private final long length;
  private long position;
  private final byte[] block = new byte[8192];
  private int blockPos = block.length;

  /** A stream of {@code length} bytes from {@code seed}. */
  public GeneratedStream(long seed, long length) {
    this.random = new SplittableRandom(seed);
    this.length = length;
  }

  @Override
  public int read() {
    byte[] one = new byte[1];
    return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
  }

  @Override
  public int read(byte[] b, int off, int len) {
    if (position >= length) {
      return -1;
    }
    int n = (int) Math.min(len, length - position);
    for (int i = 0; i < n; i++) {
      if (blockPos == block.length) {
        random.nextBytes(block);
        blockPos = 0;
      }
      b[off + i] = block[blockPos++];
    }
    position += n;
    return n;
  }

  /** The lower-case hex sha256 of what this stream yields, computed by generating it once. */
  public static String sha256(long seed, long length) {
    return sha256(new GeneratedStream(seed, length));
  }

  /** The lower-case hex sha256 of a stream, read to its end (and closed). */
  public static String sha256(InputStream in) {
    try (in) {
      MessageDigest sha = MessageDigest.getInstance("SHA-256");
      byte[] buf = new byte[64 * 1024];
      for (int n; (n = in.read(buf)) >= 0; ) {
        sha.update(buf, 0, n);
      }
      return HexFormat.of().formatHex(sha.digest());
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
