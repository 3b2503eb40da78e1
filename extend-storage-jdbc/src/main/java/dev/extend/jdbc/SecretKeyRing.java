package dev.extend.jdbc;

import dev.extend.ExtendException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.GeneralSecurityException;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;
import javax.crypto.AEADBadTagException;
import javax.crypto.Cipher;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;

/**
 * The AES-256 keys that encrypt webhook secrets at rest (AES-GCM, a random 12-byte nonce per
 * write, the key id stored beside the ciphertext).
 *
 * <p>The first key is the <em>primary</em>: every write uses it. The others stay readable, so
 * keys can be rotated: put a new key first, keep the old ones after it, and rows written with an
 * old key remain readable (they are re-encrypted with the primary on their next update).
 *
 * <p>Every node on one database needs the same keys. The database records a check value per key
 * id (see {@link #keyCheck}), and a {@link JdbcStorage} refuses to start with a ring that lacks a
 * key its secrets use, or whose key of a recorded id is another one; webhooks without secrets
 * need no key.
 *
 * <p>Text form (environment variable {@value #ENV} or a key file): {@code id:base64key} entries
 * separated by commas or new lines, primary first; ids are 1-64 letters, digits, {@code .},
 * {@code _} or {@code -}; each key is 32 bytes. {@code #} starts a comment line in files.
 */
public final class SecretKeyRing {

  /** The environment variable {@link #fromEnvironment()} reads. */
  public static final String ENV = "EXTEND_SECRET_KEYS";

  /** The environment variable that names a key file, read when {@value #ENV} is not set. */
  public static final String ENV_FILE = "EXTEND_SECRET_KEYS_FILE";

  private static final Pattern ID = Pattern.compile("[A-Za-z0-9._-]{1,64}");
  private static final int KEY_BYTES = 32;
  private static final int NONCE_BYTES = 12;
  private static final int TAG_BITS = 128;
  private static final SecureRandom RANDOM = new SecureRandom();

  // What a key check seals (see keyCheck): a fixed text, bound to the key id.
  private static final byte[] CHECK_TEXT = "extend secret key check".getBytes(StandardCharsets.UTF_8);

  private final Map<String, SecretKeySpec> keys; // insertion order: primary first
  private final String primaryId;
  private final String origin;

  private SecretKeyRing(Map<String, SecretKeySpec> keys, String origin) {
    if (keys.isEmpty()) {
      throw new IllegalArgumentException("secret key ring: at least one key is required");
    }
    this.keys = Collections.unmodifiableMap(new LinkedHashMap<>(keys));
    this.primaryId = keys.keySet().iterator().next();
    this.origin = origin;
  }

  /**
   * Parses the text form {@code id1:base64key,id0:base64key} (primary first).
   *
   * @throws IllegalArgumentException naming the entry at fault (never its key material)
   */
  public static SecretKeyRing parse(String spec) {
    return parse(spec, "SecretKeyRing.parse");
  }

  /** {@link #parse(String)}, remembering where the text came from, e.g. {@code EXTEND_SECRET_KEYS}. */
  static SecretKeyRing parse(String spec, String origin) {
    if (spec == null || spec.isBlank()) {
      throw new IllegalArgumentException("secret key ring: no keys given");
    }
    Map<String, SecretKeySpec> keys = new LinkedHashMap<>();
    int n = 0;
    List<String> entries = new ArrayList<>();
    for (String line : spec.split("\\R")) {
      if (!line.strip().startsWith("#")) {
        entries.addAll(List.of(line.split(",")));
      }
    }
    for (String raw : entries) {
      String entry = raw.strip();
      if (entry.isEmpty()) {
        continue;
      }
      n++;
      int colon = entry.indexOf(':');
      if (colon < 0) {
        throw new IllegalArgumentException("secret key ring: entry " + n + " must be id:base64key");
      }
      String id = entry.substring(0, colon).strip();
      if (!ID.matcher(id).matches()) {
        throw new IllegalArgumentException("secret key ring: entry " + n
            + ": key id must be 1-64 letters, digits, '.', '_' or '-'");
      }
      byte[] key;
      try {
        key = Base64.getDecoder().decode(entry.substring(colon + 1).strip());
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException("secret key ring: key '" + id + "' is not valid base64");
      }
      if (key.length != KEY_BYTES) {
        throw new IllegalArgumentException("secret key ring: key '" + id + "' must be " + KEY_BYTES
            + " bytes (AES-256), was " + key.length);
      }
      if (keys.put(id, new SecretKeySpec(key, "AES")) != null) {
        throw new IllegalArgumentException("secret key ring: key id '" + id + "' appears twice");
      }
    }
    return new SecretKeyRing(keys, origin);
  }

  /**
   * Reads the ring from the environment variable {@value #ENV}.
   *
   * @throws IllegalStateException when it is not set
   */
  public static SecretKeyRing fromEnvironment() {
    String spec = System.getenv(ENV);
    if (spec == null || spec.isBlank()) {
      throw new IllegalStateException("secret key ring: environment variable " + ENV + " is not set");
    }
    return parse(spec, ENV);
  }

  /** Reads the ring from a key file in the text form. */
  public static SecretKeyRing fromFile(Path file) throws IOException {
    try {
      return parse(Files.readString(file, StandardCharsets.UTF_8), "the key file " + file.toAbsolutePath());
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(file + ": " + e.getMessage(), e);
    }
  }

  /**
   * Reads the key file, or creates it with one new random key when it does not exist (file
   * mode 0600 where the file system supports it): the zero-setup default of an embedded node.
   * Losing this file makes stored secrets unreadable.
   */
  public static SecretKeyRing loadOrCreate(Path file) throws IOException {
    if (Files.exists(file)) {
      return fromFile(file);
    }
    SecretKeyRing ring = new SecretKeyRing(generate("k1").keys, "the key file " + file.toAbsolutePath()
        + ", made at this start");
    Path dir = file.toAbsolutePath().getParent();
    Files.createDirectories(dir);
    try {
      try {
        Files.createFile(file, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
      } catch (UnsupportedOperationException e) {
        Files.createFile(file);
      }
    } catch (FileAlreadyExistsException raced) {
      return fromFile(file); // another process created it first
    }
    Files.writeString(file, "# Extend secret keys (id:base64 AES-256 key, primary first). Keep this file safe.\n"
        + ring.toSpec() + "\n", StandardCharsets.UTF_8, StandardOpenOption.TRUNCATE_EXISTING);
    return ring;
  }

  /** A ring of one new random key. */
  public static SecretKeyRing generate(String id) {
    byte[] key = new byte[KEY_BYTES];
    RANDOM.nextBytes(key);
    return parse(id + ":" + Base64.getEncoder().encodeToString(key), "SecretKeyRing.generate");
  }

  /**
   * This ring's keys followed by those of {@code older} that it does not have: the ring after a
   * rotation, with this ring's primary used for writes.
   */
  public SecretKeyRing withOlder(SecretKeyRing older) {
    Map<String, SecretKeySpec> all = new LinkedHashMap<>(keys);
    older.keys.forEach(all::putIfAbsent);
    return new SecretKeyRing(all, origin);
  }

  /** The id of the key used for writes. */
  public String primaryId() {
    return primaryId;
  }

  /** The ids of every key, primary first. */
  public List<String> ids() {
    return List.copyOf(keys.keySet());
  }

  /** Whether the ring holds a key with this id. */
  public boolean contains(String id) {
    return keys.containsKey(id);
  }

  /** Where the keys came from, for messages: {@code EXTEND_SECRET_KEYS}, {@code the key file ...}. */
  String origin() {
    return origin;
  }

  /** The text form, key material included: for writing a key file or an environment variable. */
  public String toSpec() {
    List<String> entries = new ArrayList<>();
    keys.forEach((id, k) -> entries.add(id + ":" + Base64.getEncoder().encodeToString(k.getEncoded())));
    return String.join(",", entries);
  }

  /** The key ids only; never key material. */
  @Override
  public String toString() {
    return "SecretKeyRing" + ids() + " (primary " + primaryId + ")";
  }

  /** Encrypts with the primary key: nonce followed by ciphertext and tag. */
  byte[] encrypt(byte[] plain, byte[] associatedData) {
    return seal(keys.get(primaryId), plain, associatedData);
  }

  /**
   * Decrypts what {@link #encrypt} wrote with key {@code keyId}.
   *
   * @param what names the row in errors, e.g. {@code secrets of webhook acme/hook}
   * @throws ExtendException ({@code secret_key_unavailable}, 500) naming the key id when the
   *     ring lacks the key or the key does not fit
   */
  byte[] decrypt(String keyId, byte[] sealed, byte[] associatedData, String what) {
    SecretKeySpec key = keys.get(keyId);
    if (key == null) {
      throw new ExtendException("secret_key_unavailable", 500, what + " are encrypted with key '" + keyId
          + "', which is not in the secret key ring " + ids() + " (" + ENV + " or the key file)");
    }
    try {
      return open(key, sealed, associatedData);
    } catch (AEADBadTagException e) {
      throw new ExtendException("secret_key_unavailable", 500, what + " cannot be decrypted with key '" + keyId
          + "': the key differs from the one they were written with, or the row was altered", e);
    } catch (GeneralSecurityException e) {
      throw ExtendException.internal("AES-GCM decryption of " + what + " failed", e);
    }
  }

  /**
   * Whether key {@code keyId} of this ring opens {@code sealed} (as {@link #encrypt} wrote it);
   * false also when the ring lacks the key.
   */
  boolean opens(String keyId, byte[] sealed, byte[] associatedData) {
    SecretKeySpec key = keys.get(keyId);
    if (key == null) {
      return false;
    }
    try {
      open(key, sealed, associatedData);
      return true;
    } catch (AEADBadTagException e) {
      return false;
    } catch (GeneralSecurityException e) {
      throw ExtendException.internal("AES-GCM decryption of the check of key '" + keyId + "' failed", e);
    }
  }

  /**
   * The check value of the primary key: a fixed text sealed with it, bound to its id. Stored
   * beside the key id, it lets another ring tell whether its key of that id is the same
   * ({@link #opensKeyCheck}) without revealing anything of the key.
   */
  byte[] keyCheck() {
    return seal(keys.get(primaryId), CHECK_TEXT, checkData(primaryId));
  }

  /** Whether this ring holds key {@code keyId} and it is the one that made {@code check}. */
  boolean opensKeyCheck(String keyId, byte[] check) {
    return opens(keyId, check, checkData(keyId));
  }

  private static byte[] checkData(String keyId) {
    return ("secret-key-check:" + keyId).getBytes(StandardCharsets.UTF_8);
  }

  private static byte[] seal(SecretKeySpec key, byte[] plain, byte[] associatedData) {
    try {
      byte[] nonce = new byte[NONCE_BYTES];
      RANDOM.nextBytes(nonce);
      Cipher cipher = Cipher.getInstance("AES/GCM/NoPadding");
      cipher.init(Cipher.ENCRYPT_MODE, key, new GCMParameterSpec(TAG_BITS, nonce));
      cipher.updateAAD(associatedData);
      byte[] sealed = cipher.doFinal(plain);
      byte[] out = new byte[NONCE_BYTES + sealed.length];
      System.arraycopy(nonce, 0, out, 0, NONCE_BYTES);
      System.arraycopy(sealed, 0, out, NONCE_BYTES, sealed.length);
      return out;
    } catch (GeneralSecurityException e) {
      throw ExtendException.internal("AES-GCM encryption failed", e);
    }
  }

  private static byte[] open(SecretKeySpec key, byte[] sealed, byte[] associatedData) throws GeneralSecurityException {
    if (sealed.length < NONCE_BYTES + TAG_BITS / 8) {
      throw new AEADBadTagException("shorter than a nonce and a tag");
    }
    Cipher cipher = Cipher.getInstance("AES/GCM/NoPadding");
    cipher.init(Cipher.DECRYPT_MODE, key, new GCMParameterSpec(TAG_BITS, sealed, 0, NONCE_BYTES));
    cipher.updateAAD(associatedData);
    return cipher.doFinal(sealed, NONCE_BYTES, sealed.length - NONCE_BYTES);
  }
}
