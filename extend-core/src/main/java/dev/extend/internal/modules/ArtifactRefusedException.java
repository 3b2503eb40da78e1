package dev.extend.internal.modules;

import java.io.IOException;

/**
 * A module artifact was refused: its bytes do not match the digest recorded when it was built,
 * or its archive is malformed, breaks a bound, or holds an entry that could reach outside its
 * directory. Unlike other {@link IOException}s of an unpack, retrying cannot help: the artifact
 * itself is at fault. Messages name the module or entry (sanitised), never file content.
 */
public final class ArtifactRefusedException extends IOException {
  private static final long serialVersionUID = 1L;

  /** Creates the refusal with a message saying what was refused and why. */
  public ArtifactRefusedException(String message) {
    super(message);
  }

  /** Creates the refusal with a message and the failure that revealed it (corrupt gzip, truncation). */
  public ArtifactRefusedException(String message, Throwable cause) {
    super(message, cause);
  }
}
