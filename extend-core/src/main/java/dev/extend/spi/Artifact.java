package dev.extend.spi;

/**
 * A stored blob, addressed by the sha256 of its content. A module's record keeps the artifact
 * as it was when the module was built, so a host can check the bytes it fetches against it.
 *
 * @param digest lower-case hex sha256 of the content
 * @param size size in bytes
 */
public record Artifact(String digest, long size) {

  /** Checks that the digest is 64 lower-case hex digits and the size is not negative. */
  public Artifact {
    if (!isDigest(digest)) {
      throw new IllegalArgumentException("artifact digest must be 64 lower-case hex digits (a sha256)");
    }
    if (size < 0) {
      throw new IllegalArgumentException("artifact size cannot be negative, was " + size);
    }
  }

  /** Whether {@code s} has the form of an artifact digest: 64 lower-case hex digits. */
  public static boolean isDigest(String s) {
    if (s == null || s.length() != 64) {
      return false;
    }
    for (int i = 0; i < 64; i++) {
      char c = s.charAt(i);
      if ((c < '0' || c > '9') && (c < 'a' || c > 'f')) {
        return false;
      }
    }
    return true;
  }
}
