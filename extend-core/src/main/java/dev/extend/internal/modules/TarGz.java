package dev.extend.internal.modules;

import dev.extend.internal.FileTrees;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.SeekableByteChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.zip.GZIPInputStream;
import java.util.zip.ZipException;

/**
 * Unpacks a module artifact, a gzip-compressed tar (ustar, pax {@code path}/{@code linkpath}/
 * {@code size} records, GNU long names), into a directory. It runs as root on every node, and
 * the archive is hostile input (one bad blob in the shared database must not become a file
 * write on each node), so every entry is held to these rules, and breaking one refuses the
 * whole archive with an {@link ArtifactRefusedException} naming the entry:
 *
 * <ol>
 *   <li><b>Names</b> are relative: no leading {@code /}, no {@code ..} component, no NUL;
 *       {@code .} and empty components are dropped. At most {@link Limits#maxPathBytes} bytes,
 *       {@link Limits#maxDepth} components and 255 bytes per component.
 *   <li><b>Kinds</b>: regular files, directories and symbolic links only. Hard links (npm's
 *       {@code node_modules} never needs them, and one to {@code /etc/shadow} would copy it in),
 *       devices, FIFOs, sparse files and every other type are refused.
 *   <li><b>No link is ever traversed while unpacking.</b> Each ancestor of an entry must be a
 *       directory (checked with lstat, never followed; missing ones are created with mkdir):
 *       an entry below a symlink is refused even when the link points inside. Files are created
 *       with {@code CREATE_NEW} + {@code NOFOLLOW_LINKS} ({@code O_EXCL|O_NOFOLLOW}),
 *       directories with mkdir and links with symlink, all of which fail on an existing name
 *       rather than follow it. So an entry whose name exists already is refused (a file over an
 *       earlier symlink of the same name, a file twice); only a directory repeating a directory
 *       is accepted, as a no-op.
 *   <li><b>Link targets</b> are relative and of the form {@code ../}<sup>k</sup> followed by
 *       names none of which is {@code ..}, with k at most the link's depth (the number of
 *       directories between the target directory and the link). The target is written as that
 *       normal form.
 *   <li><b>Modes</b>: directories 0755, files 0644, or 0755 when the archive gave any execute
 *       bit; never setuid, setgid, sticky or writable by others. Owners and times in the
 *       archive are ignored: everything belongs to the unpacking process (root on a node).
 *   <li><b>Bounds</b> ({@link Limits}): bytes of entry data, headers read and filesystem nodes
 *       created, name length and depth, and the size of each pax or GNU long-name record, all
 *       checked before anything is allocated or written, so a bomb fails at its first excess.
 *   <li><b>All or nothing</b>: on any failure what was created is removed and the target
 *       directory is empty again.
 * </ol>
 *
 * <p><b>Why the link rule is sound.</b> The kernel resolves a relative link target from the
 * directory that holds the link. By rule 3 that directory is a real directory at the link's
 * depth d (all its ancestors were created here as directories; directories have one parent and
 * nothing is moved), so the k leading {@code ..} climb through real parents to depth
 * d − k ≥ 0: inside the tree. The names that follow only descend: each is a directory or file
 * of the tree, a missing name (resolution stops), or another link of the tree, which by the
 * same argument resolves inside (induction on the links the kernel expands, which it bounds).
 * A {@code ..} after a name is refused because it climbs out of whatever that name resolves to,
 * which may be a link: with {@code a/b/L -> ../..} (the tree's root), {@code M -> a/b/L/../..}
 * is {@code a} lexically but the root's parent physically. Absolute targets are refused: the
 * tree is renamed into place and mounted elsewhere in sandboxes. Hence every path made of the
 * tree's own names, followed by the host or in a sandbox, stays inside the tree.
 *
 * <p>This relies on nothing but this unpack writing in the target while it runs: the caller
 * passes a fresh, empty directory that only it can reach (the host module store uses a 0700
 * directory of its own root-owned store), so what lstat saw is what the kernel finds later.
 */
public final class TarGz {
  private static final int BLOCK = 512;
  private static final int NAME_MAX = 255;
  private static final int VERIFIED_DIRS = 4096;
  private static final Set<PosixFilePermission> DIR = PosixFilePermissions.fromString("rwxr-xr-x");
  private static final Set<PosixFilePermission> EXEC = DIR;
  private static final Set<PosixFilePermission> PLAIN = PosixFilePermissions.fromString("rw-r--r--");
  private static final Set<PosixFilePermission> OWNER_ONLY = PosixFilePermissions.fromString("rw-------");

  private TarGz() {}

  /**
   * Bounds of one unpack.
   *
   * @param maxBytes bytes of entry data in all (file content and extended header records)
   * @param maxEntries headers read, and separately filesystem nodes created (implicit parent
   *     directories included)
   * @param maxPathBytes UTF-8 bytes of one entry name or link target
   * @param maxDepth components of one entry name
   * @param maxHeaderBytes bytes of one pax or GNU long-name record
   */
  public record Limits(long maxBytes, int maxEntries, int maxPathBytes, int maxDepth, int maxHeaderBytes) {
    /** 1 GiB, 200,000 entries, 4096-byte names 128 deep, 64 KiB extended headers. */
    public static final Limits DEFAULT = new Limits(1L << 30, 200_000, 4096, 128, 64 * 1024);

    /** Checks that every bound is positive. */
    public Limits {
      if (maxBytes < 0 || maxEntries < 1 || maxPathBytes < 1 || maxDepth < 1 || maxHeaderBytes < 1) {
        throw new IllegalArgumentException("tar limits must be positive: " + maxBytes + ", " + maxEntries + ", "
            + maxPathBytes + ", " + maxDepth + ", " + maxHeaderBytes);
      }
    }
  }

  /** Unpacks {@code in} into {@code target} within {@link Limits#DEFAULT}. */
  public static void unpack(InputStream in, Path target) throws IOException {
    unpack(in, target, Limits.DEFAULT);
  }

  /**
   * Unpacks {@code in} into {@code target}: an existing, empty directory that nothing else
   * writes to meanwhile. On failure {@code target} is left empty.
   *
   * @throws ArtifactRefusedException when the archive breaks a rule of this class, is corrupt
   *     or truncated; its message names the entry
   * @throws IOException when the target's file system fails
   */
  public static void unpack(InputStream in, Path target, Limits limits) throws IOException {
    Path root = target.toAbsolutePath().normalize();
    BasicFileAttributes attrs = Files.readAttributes(root, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
    if (!attrs.isDirectory()) {
      throw new IOException(target + " is not a directory");
    }
    try (DirectoryStream<Path> ds = Files.newDirectoryStream(root)) {
      if (ds.iterator().hasNext()) {
        throw new IOException(target + " is not empty: an artifact is unpacked into a fresh directory");
      }
    }
    try {
      new Unpacker(root, limits, new Reader(new GZIPInputStream(in, 64 * 1024), limits)).run();
    } catch (IOException | RuntimeException e) {
      empty(root);
      if (e instanceof ZipException z) {
        throw new ArtifactRefusedException("artifact is not valid gzip: " + z.getMessage(), z);
      }
      if (e instanceof EOFException eof) {
        throw new ArtifactRefusedException("artifact is truncated", eof);
      }
      throw e;
    }
  }

  private static void empty(Path root) {
    try (DirectoryStream<Path> ds = Files.newDirectoryStream(root)) {
      for (Path p : ds) {
        FileTrees.deleteTree(p); // never follows links
      }
    } catch (IOException e) {
      // best effort: the caller removes the directory
    }
  }

  /** One entry as the archive describes it (extended headers applied). */
  private record Entry(char type, String name, String link, long size, int mode) {}

  /** Writes the entries of a {@link Reader} below {@code root}, rule by rule. */
  private static final class Unpacker {
    private final Path root;
    private final Limits limits;
    private final Reader reader;
    /** Directories verified (lstat, not a link) or created: they stay so, nothing is removed meanwhile. */
    private final Map<String, Boolean> verified = new LinkedHashMap<>(256, 0.75f, true) {
      @Override
      protected boolean removeEldestEntry(Map.Entry<String, Boolean> eldest) {
        return size() > VERIFIED_DIRS;
      }
    };
    private final byte[] buffer = new byte[64 * 1024];
    private long nodes;

    Unpacker(Path root, Limits limits, Reader reader) {
      this.root = root;
      this.limits = limits;
      this.reader = reader;
    }

    void run() throws IOException {
      for (Entry e; (e = reader.next()) != null; ) {
        add(e);
      }
    }

    private void add(Entry e) throws IOException {
      char type = e.type();
      boolean dirByName = (type == '0' || type == '\0') && e.name().endsWith("/");
      switch (type) {
        case '0', '\0', '7', '5', '2' -> { }
        case '1' -> throw refuse(e.name(), "hard links are not allowed");
        case '3' -> throw refuse(e.name(), "character devices are not allowed");
        case '4' -> throw refuse(e.name(), "block devices are not allowed");
        case '6' -> throw refuse(e.name(), "FIFOs are not allowed");
        case 'S' -> throw refuse(e.name(), "sparse files are not allowed");
        default -> throw refuse(e.name(), "entries of type " + describeType(type) + " are not allowed");
      }
      List<String> parts = components(e.name());
      boolean directory = type == '5' || dirByName;
      if (e.size() != 0 && (directory || type == '2')) {
        throw refuse(e.name(), "a directory or link entry must carry no data");
      }
      if (parts.isEmpty()) {
        if (directory) {
          return; // "./": the target itself
        }
        throw refuse(e.name(), "names the target directory itself");
      }
      String rel = String.join("/", parts);
      Path path;
      try {
        path = root.resolve(rel);
      } catch (InvalidPathException x) {
        throw refuse(e.name(), "is not a valid file name here");
      }
      if (!directory && type != '2') {
        reader.reserve(e.name(), e.size()); // a bomb fails before anything is created for it
      }
      parents(e.name(), parts);
      if (directory) {
        directory(e.name(), rel, path);
      } else if (type == '2') {
        symlink(e, parts, path);
      } else {
        file(e, path);
      }
    }

    /** Rule 3: every ancestor is a real directory, created here if missing. */
    private void parents(String name, List<String> parts) throws IOException {
      StringBuilder prefix = new StringBuilder();
      for (int i = 0; i < parts.size() - 1; i++) {
        if (i > 0) {
          prefix.append('/');
        }
        prefix.append(parts.get(i));
        String rel = prefix.toString();
        if (verified.get(rel) != null) { // get: keeps it recent
          continue;
        }
        Path dir = root.resolve(rel);
        BasicFileAttributes a = lstat(dir);
        if (a == null) {
          node(name);
          mkdir(name, dir);
        } else if (a.isSymbolicLink()) {
          throw refuse(name, "its parent " + quote(rel) + " is a symbolic link");
        } else if (!a.isDirectory()) {
          throw refuse(name, "its parent " + quote(rel) + " is not a directory");
        }
        verified.put(rel, Boolean.TRUE);
      }
    }

    private void directory(String name, String rel, Path path) throws IOException {
      BasicFileAttributes a = lstat(path);
      if (a != null) {
        if (a.isDirectory() && !a.isSymbolicLink()) {
          return; // a directory named twice, or after its content
        }
        throw refuse(name, "duplicate entry: the name exists already");
      }
      node(name);
      mkdir(name, path);
      verified.put(rel, Boolean.TRUE);
    }

    private void mkdir(String name, Path dir) throws IOException {
      try {
        Files.createDirectory(dir);
      } catch (FileAlreadyExistsException x) {
        throw refuse(name, "duplicate entry: the name exists already");
      }
      chmod(dir, DIR);
    }

    /** Rule 4, then symlink(2), which never follows an existing name. */
    private void symlink(Entry e, List<String> parts, Path path) throws IOException {
      String link = e.link();
      if (link.isEmpty()) {
        throw refuse(e.name(), "symbolic link with an empty target");
      }
      if (link.indexOf('\0') >= 0) {
        throw refuse(e.name(), "symbolic link target contains a NUL byte");
      }
      if (link.startsWith("/")) {
        throw refuse(e.name(), "symbolic link to an absolute path (" + quote(link) + ")");
      }
      List<String> target = new ArrayList<>();
      int up = 0;
      for (String c : link.split("/", -1)) {
        if (c.isEmpty() || c.equals(".")) {
          continue;
        }
        if (c.equals("..")) {
          if (!target.isEmpty()) {
            throw refuse(e.name(), "symbolic link target " + quote(link) + " climbs after descending");
          }
          up++;
        } else {
          target.add(c);
        }
      }
      if (up > parts.size() - 1) {
        throw refuse(e.name(), "symbolic link target " + quote(link) + " leaves the module directory");
      }
      checkLengths(e.name(), link, target);
      List<String> normal = new ArrayList<>(up + target.size());
      for (int i = 0; i < up; i++) {
        normal.add("..");
      }
      normal.addAll(target);
      node(e.name());
      try {
        Files.createSymbolicLink(path, Path.of(normal.isEmpty() ? "." : String.join("/", normal)));
      } catch (FileAlreadyExistsException x) {
        throw refuse(e.name(), "duplicate entry: the name exists already");
      } catch (InvalidPathException x) {
        throw refuse(e.name(), "symbolic link target is not a valid file name here");
      }
    }

    /** A new regular file (O_CREAT|O_EXCL|O_NOFOLLOW), its size checked against the budget first. */
    private void file(Entry e, Path path) throws IOException {
      node(e.name());
      try (SeekableByteChannel out = Files.newByteChannel(path,
          Set.of(StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE, LinkOption.NOFOLLOW_LINKS),
          PosixFilePermissions.asFileAttribute(OWNER_ONLY))) {
        long left = e.size();
        while (left > 0) {
          int n = reader.data(buffer, (int) Math.min(buffer.length, left));
          ByteBuffer b = ByteBuffer.wrap(buffer, 0, n);
          while (b.hasRemaining()) {
            out.write(b);
          }
          left -= n;
        }
      } catch (FileAlreadyExistsException x) {
        throw refuse(e.name(), "duplicate entry: the name exists already");
      }
      reader.endData(e.size());
      chmod(path, (e.mode() & 0111) != 0 ? EXEC : PLAIN);
    }

    private void node(String name) throws IOException {
      if (++nodes > limits.maxEntries()) {
        throw refuse(name, "the archive creates more than " + limits.maxEntries() + " files, directories and links");
      }
    }

    /** Rule 1: the components of an entry name. */
    private List<String> components(String name) throws IOException {
      if (name.indexOf('\0') >= 0) {
        throw refuse(name, "name contains a NUL byte");
      }
      if (name.startsWith("/")) {
        throw refuse(name, "absolute names are not allowed");
      }
      List<String> parts = new ArrayList<>();
      for (String c : name.split("/", -1)) {
        if (c.isEmpty() || c.equals(".")) {
          continue;
        }
        if (c.equals("..")) {
          throw refuse(name, "'..' is not allowed in names");
        }
        parts.add(c);
      }
      if (parts.size() > limits.maxDepth()) {
        throw refuse(name, "name is deeper than " + limits.maxDepth() + " directories");
      }
      checkLengths(name, name, parts);
      return parts;
    }

    /** The length bounds of a name or link target ({@code whole}) and of its components. */
    private void checkLengths(String name, String whole, List<String> parts) throws IOException {
      if (utf8Length(whole) > limits.maxPathBytes()) {
        throw refuse(name, "name or link target is longer than " + limits.maxPathBytes() + " bytes");
      }
      for (String c : parts) {
        if (utf8Length(c) > NAME_MAX) {
          throw refuse(name, "a name component is longer than " + NAME_MAX + " bytes");
        }
      }
    }

    private static BasicFileAttributes lstat(Path p) throws IOException {
      try {
        return Files.readAttributes(p, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
      } catch (NoSuchFileException e) {
        return null;
      }
    }

    /** chmod without following (the path is ours and not a link; NOFOLLOW makes sure). */
    private static void chmod(Path p, Set<PosixFilePermission> perms) throws IOException {
      Files.getFileAttributeView(p, PosixFileAttributeView.class, LinkOption.NOFOLLOW_LINKS).setPermissions(perms);
    }
  }

  /**
   * Reads tar headers and entry data, checking header checksums, numbers and every bound before
   * allocating or consuming what a header announces.
   */
  private static final class Reader {
    private final InputStream in;
    private final Limits limits;
    private final byte[] header = new byte[BLOCK];
    private long dataBytes;
    private int headers;

    Reader(InputStream in, Limits limits) {
      this.in = in;
      this.limits = limits;
    }

    /** The next entry, extended headers applied; null at the end-of-archive marker. */
    Entry next() throws IOException {
      String longName = null;
      String longLink = null;
      long paxSize = -1;
      boolean extended = false;
      while (true) {
        if (!readBlock(header)) {
          throw new ArtifactRefusedException(extended ? "archive ends after an extended header"
              : "archive ends without its end-of-archive marker");
        }
        if (zero(header)) {
          if (extended) {
            throw new ArtifactRefusedException("archive ends after an extended header");
          }
          return null;
        }
        if (++headers > limits.maxEntries()) {
          throw new ArtifactRefusedException("the archive has more than " + limits.maxEntries() + " entries");
        }
        checksum();
        String name = name(false); // for messages; the entry's own name is decoded strictly below
        char type = (char) (header[156] & 0xff);
        long size = number(name, 124, 12, "size");
        switch (type) {
          case 'x' -> {
            Pax pax = pax(name, meta(name, size));
            longName = pax.path() != null ? pax.path() : longName;
            longLink = pax.linkpath() != null ? pax.linkpath() : longLink;
            paxSize = pax.size() >= 0 ? pax.size() : paxSize;
            extended = true;
          }
          case 'g' -> { // global records: bounded, then ignored
            meta(name, size);
            extended = true;
          }
          case 'L' -> {
            longName = text(name, trimNul(meta(name, size)));
            extended = true;
          }
          case 'K' -> {
            longLink = text(name, trimNul(meta(name, size)));
            extended = true;
          }
          default -> {
            String entryName = longName != null ? longName : name(true);
            boolean isLink = type == '1' || type == '2';
            String link = longLink != null ? longLink : isLink ? field(entryName, 157, 100, true) : "";
            long mode = number(entryName, 100, 8, "mode");
            return new Entry(type, entryName, link, paxSize >= 0 ? paxSize : size, (int) (mode & 07777));
          }
        }
      }
    }

    /** Charges {@code size} bytes of file data to the budget, before any is read or written. */
    void reserve(String name, long size) throws IOException {
      if (size > limits.maxBytes() - dataBytes) {
        throw refuse(name, size + " bytes would exceed the limit of " + limits.maxBytes() + " unpacked bytes");
      }
      dataBytes += size;
    }

    /** Reads up to {@code len} bytes of the current entry's data (the caller counts what remains). */
    int data(byte[] b, int len) throws IOException {
      int n = in.read(b, 0, len);
      if (n < 0) {
        throw new EOFException("truncated tar");
      }
      return n;
    }

    /** Consumes the padding after {@code size} bytes of data. */
    void endData(long size) throws IOException {
      skip(padded(size) - size);
    }

    /** The data of an extended header, bounded by {@link Limits#maxHeaderBytes}. */
    private byte[] meta(String name, long size) throws IOException {
      if (size > limits.maxHeaderBytes()) {
        throw refuse(name, "extended header of " + size + " bytes is larger than the limit of "
            + limits.maxHeaderBytes());
      }
      reserve(name, size);
      byte[] b = new byte[(int) size];
      if (!readBlock(b) && size > 0) {
        throw new EOFException("truncated tar");
      }
      endData(size);
      return b;
    }

    private record Pax(String path, String linkpath, long size) {}

    /** pax records: {@code "<len> <key>=<value>\n"}, len counting the whole record. */
    private static Pax pax(String name, byte[] data) throws IOException {
      String path = null;
      String linkpath = null;
      long size = -1;
      int i = 0;
      while (i < data.length) {
        int sp = i;
        int len = 0;
        while (sp < data.length && data[sp] >= '0' && data[sp] <= '9' && sp - i < 9) {
          len = len * 10 + (data[sp] - '0');
          sp++;
        }
        if (sp == i || sp >= data.length || data[sp] != ' ' || len <= sp - i + 1 || len > data.length - i
            || data[i + len - 1] != '\n') {
          throw refuse(name, "malformed pax record");
        }
        int eq = sp + 1;
        while (eq < i + len - 1 && data[eq] != '=') {
          eq++;
        }
        if (eq >= i + len - 1) {
          throw refuse(name, "malformed pax record");
        }
        String key = new String(data, sp + 1, eq - sp - 1, StandardCharsets.US_ASCII);
        byte[] value = Arrays.copyOfRange(data, eq + 1, i + len - 1);
        switch (key) {
          case "path" -> path = text(name, value);
          case "linkpath" -> linkpath = text(name, value);
          case "size" -> size = decimal(name, value);
          default -> {
            if (key.startsWith("GNU.sparse.")) {
              throw refuse(name, "sparse files are not allowed");
            }
          }
        }
        i += len;
      }
      return new Pax(path, linkpath, size);
    }

    private static long decimal(String name, byte[] value) throws IOException {
      if (value.length == 0 || value.length > 18) {
        throw refuse(name, "malformed pax size");
      }
      long v = 0;
      for (byte b : value) {
        if (b < '0' || b > '9') {
          throw refuse(name, "malformed pax size");
        }
        v = v * 10 + (b - '0');
      }
      return v;
    }

    /**
     * The header's own name: ustar prefix + name (the prefix only in POSIX ustar headers). Not
     * strict, it is only shown: a writer may cut a long name mid-character here and carry the
     * whole name in a pax record.
     */
    private String name(boolean strict) throws IOException {
      String n = field(null, 0, 100, strict);
      boolean posix = header[257] == 'u' && header[258] == 's' && header[259] == 't' && header[260] == 'a'
          && header[261] == 'r' && header[262] == 0;
      if (posix && header[345] != 0) {
        n = field(n, 345, 155, strict) + "/" + n;
      }
      return n;
    }

    private void checksum() throws IOException {
      String name = "header #" + headers;
      long stored = number(name, 148, 8, "checksum");
      long unsigned = 0;
      long signed = 0;
      for (int i = 0; i < BLOCK; i++) {
        int b = i >= 148 && i < 156 ? ' ' : header[i];
        unsigned += b & 0xff;
        signed += (byte) b;
      }
      if (stored != unsigned && stored != signed) {
        throw new ArtifactRefusedException("tar " + name + ": checksum does not match (corrupt archive)");
      }
    }

    /** An octal field (spaces or NULs around the digits) or GNU base-256; never negative. */
    private long number(String name, int off, int len, String what) throws IOException {
      if ((header[off] & 0x80) != 0) {
        if (header[off] != (byte) 0x80) {
          throw refuse(name, "negative " + what + " in header");
        }
        long v = 0;
        for (int i = off + 1; i < off + len; i++) {
          if ((v >>> 55) != 0) {
            throw refuse(name, what + " in header is too large");
          }
          v = (v << 8) | (header[i] & 0xff);
        }
        return v;
      }
      int i = off;
      int end = off + len;
      while (i < end && header[i] == ' ') {
        i++;
      }
      long v = 0;
      while (i < end && header[i] >= '0' && header[i] <= '7') {
        if ((v >>> 60) != 0) {
          throw refuse(name, what + " in header is too large");
        }
        v = (v << 3) | (header[i] - '0');
        i++;
      }
      while (i < end && (header[i] == 0 || header[i] == ' ')) {
        i++;
      }
      if (i != end) {
        throw refuse(name, "corrupt header: " + what + " is not a number");
      }
      return v;
    }

    /** A NUL-terminated header field as UTF-8, strict or with malformed bytes replaced. */
    private String field(String name, int off, int len, boolean strict) throws IOException {
      int end = off;
      while (end < off + len && header[end] != 0) {
        end++;
      }
      return strict ? text(name, Arrays.copyOfRange(header, off, end))
          : new String(header, off, end - off, StandardCharsets.UTF_8);
    }

    private boolean readBlock(byte[] b) throws IOException {
      int off = 0;
      while (off < b.length) {
        int n = in.read(b, off, b.length - off);
        if (n < 0) {
          if (off == 0) {
            return false;
          }
          throw new EOFException("truncated tar");
        }
        off += n;
      }
      return true;
    }

    private void skip(long n) throws IOException {
      long left = n;
      while (left > 0) {
        long s = in.skip(left);
        if (s <= 0) {
          if (in.read() < 0) {
            throw new EOFException("truncated tar");
          }
          s = 1;
        }
        left -= s;
      }
    }
  }

  private static String text(String name, byte[] b) throws IOException {
    try {
      return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(b)).toString();
    } catch (CharacterCodingException e) {
      throw refuse(name == null ? "?" : name, "a name is not valid UTF-8");
    }
  }

  private static byte[] trimNul(byte[] b) {
    for (int i = 0; i < b.length; i++) {
      if (b[i] == 0) {
        return Arrays.copyOf(b, i);
      }
    }
    return b;
  }

  private static long padded(long size) {
    return (size + BLOCK - 1) / BLOCK * BLOCK;
  }

  private static boolean zero(byte[] b) {
    for (byte x : b) {
      if (x != 0) {
        return false;
      }
    }
    return true;
  }

  private static int utf8Length(String s) {
    return s.getBytes(StandardCharsets.UTF_8).length;
  }

  private static String describeType(char type) {
    return type >= 0x21 && type < 0x7f ? "'" + type + "'" : String.format("0x%02x", (int) type);
  }

  private static ArtifactRefusedException refuse(String name, String why) {
    return new ArtifactRefusedException("tar entry " + quote(name) + ": " + why);
  }

  /**
   * A name fit for a log line or an error message: quoted, control and non-ASCII characters
   * escaped, cut at 200 characters. Names come from the archive; they may try to forge lines.
   */
  static String quote(String s) {
    StringBuilder sb = new StringBuilder("'");
    for (int i = 0; i < s.length(); i++) {
      if (sb.length() > 200) {
        sb.append("...");
        break;
      }
      char c = s.charAt(i);
      if (c >= 0x20 && c < 0x7f && c != '\'' && c != '\\') {
        sb.append(c);
      } else {
        sb.append(String.format("\\u%04x", (int) c));
      }
    }
    return sb.append('\'').toString();
  }
}
