package dev.extend.internal.modules;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.zip.GZIPOutputStream;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.apache.commons.compress.archivers.tar.TarConstants;

/**
 * Crafted tar.gz archives for the unpack tests: well-formed but hostile entries through
 * commons-compress's writer (an implementation independent of ours), malformed headers by hand.
 */
final class Tarball {
  private final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
  private final TarArchiveOutputStream tar;

  Tarball() {
    try {
      tar = new TarArchiveOutputStream(new GZIPOutputStream(bytes));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    tar.setLongFileMode(TarArchiveOutputStream.LONGFILE_POSIX);
    tar.setBigNumberMode(TarArchiveOutputStream.BIGNUMBER_POSIX);
  }

  /** Long names as GNU 'L'/'K' records instead of pax. */
  Tarball gnuLongNames() {
    tar.setLongFileMode(TarArchiveOutputStream.LONGFILE_GNU);
    return this;
  }

  Tarball dir(String name) {
    return put(new TarArchiveEntry(name.endsWith("/") ? name : name + "/", true), null);
  }

  Tarball file(String name, String content) {
    return file(name, content, 0644);
  }

  Tarball file(String name, String content, int mode) {
    TarArchiveEntry e = new TarArchiveEntry(name, true);
    e.setMode(0100000 | mode);
    return put(e, content.getBytes(StandardCharsets.UTF_8));
  }

  Tarball symlink(String name, String target) {
    return link(name, target, TarConstants.LF_SYMLINK);
  }

  Tarball hardlink(String name, String target) {
    return link(name, target, TarConstants.LF_LINK);
  }

  /** A FIFO, character or block device entry. */
  Tarball special(String name, byte type) {
    TarArchiveEntry e = new TarArchiveEntry(name, type, true);
    return put(e, null);
  }

  private Tarball link(String name, String target, byte type) {
    TarArchiveEntry e = new TarArchiveEntry(name, type, true);
    e.setLinkName(target);
    return put(e, null);
  }

  private Tarball put(TarArchiveEntry e, byte[] content) {
    try {
      if (content != null) {
        e.setSize(content.length);
      }
      tar.putArchiveEntry(e);
      if (content != null) {
        tar.write(content);
      }
      tar.closeArchiveEntry();
      return this;
    } catch (IOException x) {
      throw new UncheckedIOException(x);
    }
  }

  byte[] gz() {
    try {
      tar.close();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return bytes.toByteArray();
  }

  // ---- by hand ------------------------------------------------------------------------------

  /** A POSIX ustar header block with a correct checksum; {@code size} in GNU base-256 when large. */
  static byte[] header(String name, char type, long size, String link) {
    return header(name.getBytes(StandardCharsets.UTF_8), type, size, link);
  }

  /** The same with the name field's raw bytes. */
  static byte[] header(byte[] name, char type, long size, String link) {
    byte[] h = new byte[512];
    System.arraycopy(name, 0, h, 0, name.length);
    put(h, 100, "0000644");
    put(h, 108, "0000000");
    put(h, 116, "0000000");
    if (size > 077777777777L) {
      h[124] = (byte) 0x80;
      for (int i = 0; i < 8; i++) {
        h[135 - i] = (byte) (size >>> (8 * i));
      }
    } else {
      put(h, 124, String.format("%011o", size));
    }
    put(h, 136, "00000000000");
    h[156] = (byte) type;
    put(h, 157, link);
    put(h, 257, "ustar");
    put(h, 263, "00");
    for (int i = 148; i < 156; i++) {
      h[i] = ' ';
    }
    long sum = 0;
    for (byte b : h) {
      sum += b & 0xff;
    }
    put(h, 148, String.format("%06o", sum));
    h[154] = 0;
    return h;
  }

  /** A pax extended header ('x') with one record, padded to whole blocks. */
  static byte[] pax(String key, String value) {
    String rec = " " + key + "=" + value + "\n";
    int len = rec.getBytes(StandardCharsets.UTF_8).length;
    len += String.valueOf(len + String.valueOf(len).length()).length();
    byte[] body = (len + rec).getBytes(StandardCharsets.UTF_8);
    byte[] out = new byte[512 + (body.length + 511) / 512 * 512];
    System.arraycopy(header("PaxHeaders/0", 'x', body.length, ""), 0, out, 0, 512);
    System.arraycopy(body, 0, out, 512, body.length);
    return out;
  }

  /** gzip of the given blocks, then (unless {@code end} is false) the end-of-archive marker. */
  static byte[] rawGz(boolean end, byte[]... blocks) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    try (GZIPOutputStream gz = new GZIPOutputStream(out)) {
      for (byte[] b : blocks) {
        gz.write(b);
      }
      if (end) {
        gz.write(new byte[1024]);
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return out.toByteArray();
  }

  private static void put(byte[] h, int off, String s) {
    byte[] b = s.getBytes(StandardCharsets.UTF_8);
    System.arraycopy(b, 0, h, off, b.length);
  }
}
