package dev.extend.internal.modules;

import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermission;
import java.util.EnumSet;
import java.util.Set;
import java.util.zip.GZIPInputStream;

/**
 * Unpacks a gzip-compressed tar (ustar, GNU long names, pax paths) into a directory, refusing
 * entries and symlinks that would land outside it.
 */
public final class TarGz {
  private TarGz() {}

  /** Unpacks {@code in} into {@code target} (which must exist). */
  public static void unpack(InputStream in, Path target) throws IOException {
    Path root = target.toAbsolutePath().normalize();
    InputStream tar = new GZIPInputStream(in, 64 * 1024);
    byte[] header = new byte[512];
    String longName = null;
    String longLink = null;
    while (true) {
      if (!readFully(tar, header)) {
        return;
      }
      if (isZero(header)) {
        return;
      }
      long size = octal(header, 124, 12);
      char type = (char) header[156];
      String name = longName != null ? longName : name(header);
      String link = longLink != null ? longLink : string(header, 157, 100);
      longName = null;
      longLink = null;
      switch (type) {
        case 'L' -> {
          longName = trimNul(new String(readData(tar, size), StandardCharsets.UTF_8));
          continue;
        }
        case 'K' -> {
          longLink = trimNul(new String(readData(tar, size), StandardCharsets.UTF_8));
          continue;
        }
        case 'x' -> {
          String[] pax = pax(readData(tar, size));
          longName = pax[0];
          longLink = pax[1];
          continue;
        }
        case 'g' -> {
          skip(tar, padded(size));
          continue;
        }
        default -> { }
      }
      Path dest = root.resolve(name).normalize();
      if (!dest.startsWith(root) || name.startsWith("/")) {
        throw new IOException("tar entry escapes the target directory: " + name);
      }
      int mode = (int) octal(header, 100, 8);
      switch (type) {
        case '5' -> {
          Files.createDirectories(dest);
          skip(tar, padded(size));
        }
        case '2' -> {
          Path resolved = dest.getParent().resolve(link).normalize();
          if (link.startsWith("/") || !resolved.startsWith(root)) {
            throw new IOException("tar symlink escapes the target directory: " + name + " -> " + link);
          }
          Files.createDirectories(dest.getParent());
          Files.deleteIfExists(dest);
          Files.createSymbolicLink(dest, Path.of(link));
          skip(tar, padded(size));
        }
        case '1' -> {
          Path source = root.resolve(link).normalize();
          if (!source.startsWith(root)) {
            throw new IOException("tar hard link escapes the target directory: " + name + " -> " + link);
          }
          Files.createDirectories(dest.getParent());
          Files.copy(source, dest, StandardCopyOption.REPLACE_EXISTING, LinkOption.NOFOLLOW_LINKS);
          skip(tar, padded(size));
        }
        case '0', '\0', '7' -> {
          Files.createDirectories(dest.getParent());
          try (OutputStream out = Files.newOutputStream(dest)) {
            copy(tar, out, size);
          }
          skip(tar, padded(size) - size);
          Files.setPosixFilePermissions(dest, permissions(mode));
        }
        default -> skip(tar, padded(size)); // devices, fifos: never in a module
      }
    }
  }

  private static Set<PosixFilePermission> permissions(int mode) {
    // readable by everyone (sandboxes run as another user), executable where it was, never writable but by the owner
    Set<PosixFilePermission> p = EnumSet.of(PosixFilePermission.OWNER_READ, PosixFilePermission.OWNER_WRITE,
        PosixFilePermission.GROUP_READ, PosixFilePermission.OTHERS_READ);
    if ((mode & 0111) != 0) {
      p.add(PosixFilePermission.OWNER_EXECUTE);
      p.add(PosixFilePermission.GROUP_EXECUTE);
      p.add(PosixFilePermission.OTHERS_EXECUTE);
    }
    return p;
  }

  private static String name(byte[] h) {
    String name = string(h, 0, 100);
    String magic = string(h, 257, 6);
    if (magic.startsWith("ustar")) {
      String prefix = string(h, 345, 155);
      if (!prefix.isEmpty()) {
        name = prefix + "/" + name;
      }
    }
    return name;
  }

  private static String[] pax(byte[] data) {
    String path = null;
    String link = null;
    int i = 0;
    while (i < data.length) {
      int sp = i;
      while (sp < data.length && data[sp] != ' ') {
        sp++;
      }
      if (sp >= data.length) {
        break;
      }
      int len = Integer.parseInt(new String(data, i, sp - i, StandardCharsets.US_ASCII));
      String rec = new String(data, sp + 1, len - (sp - i) - 2, StandardCharsets.UTF_8);
      int eq = rec.indexOf('=');
      if (eq > 0) {
        String k = rec.substring(0, eq);
        if (k.equals("path")) {
          path = rec.substring(eq + 1);
        } else if (k.equals("linkpath")) {
          link = rec.substring(eq + 1);
        }
      }
      i += len;
    }
    return new String[] {path, link};
  }

  private static String trimNul(String s) {
    int z = s.indexOf('\0');
    return z >= 0 ? s.substring(0, z) : s;
  }

  private static String string(byte[] h, int off, int len) {
    int end = off;
    while (end < off + len && h[end] != 0) {
      end++;
    }
    return new String(h, off, end - off, StandardCharsets.UTF_8);
  }

  private static long octal(byte[] h, int off, int len) throws IOException {
    if ((h[off] & 0x80) != 0) { // GNU base-256 for large sizes
      long v = 0;
      for (int i = off + 1; i < off + len; i++) {
        v = (v << 8) | (h[i] & 0xff);
      }
      return v;
    }
    String s = string(h, off, len).trim();
    if (s.isEmpty()) {
      return 0;
    }
    try {
      return Long.parseLong(s, 8);
    } catch (NumberFormatException e) {
      throw new IOException("corrupt tar header: '" + s + "'");
    }
  }

  private static long padded(long size) {
    return (size + 511) / 512 * 512;
  }

  private static boolean isZero(byte[] b) {
    for (byte x : b) {
      if (x != 0) {
        return false;
      }
    }
    return true;
  }

  private static boolean readFully(InputStream in, byte[] buf) throws IOException {
    int off = 0;
    while (off < buf.length) {
      int n = in.read(buf, off, buf.length - off);
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

  private static byte[] readData(InputStream in, long size) throws IOException {
    if (size > 1 << 20) {
      throw new IOException("tar meta entry too large: " + size);
    }
    byte[] b = new byte[(int) size];
    if (!readFully(in, b) && size > 0) {
      throw new EOFException("truncated tar");
    }
    skip(in, padded(size) - size);
    return b;
  }

  private static void copy(InputStream in, OutputStream out, long size) throws IOException {
    byte[] buf = new byte[64 * 1024];
    long left = size;
    while (left > 0) {
      int n = in.read(buf, 0, (int) Math.min(buf.length, left));
      if (n < 0) {
        throw new EOFException("truncated tar");
      }
      out.write(buf, 0, n);
      left -= n;
    }
  }

  private static void skip(InputStream in, long n) throws IOException {
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
