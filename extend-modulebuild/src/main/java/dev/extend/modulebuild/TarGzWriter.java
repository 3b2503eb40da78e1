package dev.extend.modulebuild;

import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.zip.GZIPOutputStream;

/**
 * Writes a gzip-compressed POSIX tar stream: ustar headers, with a pax extended header in front
 * of any entry whose path or link target does not fit ustar's fields or is not plain ASCII.
 * Entries carry no owner and a fixed modification time, so the same tree always packs to the
 * same bytes (and the same artifact digest).
 */
final class TarGzWriter implements Closeable {
  private static final int BLOCK = 512;
  /** 1985-10-26T08:15:00Z, the fixed time npm itself stamps into package tarballs. */
  static final long MTIME = 499162500L;

  private final GZIPOutputStream out;
  private final byte[] buffer = new byte[64 * 1024];
  private int paxCount;

  TarGzWriter(OutputStream sink) throws IOException {
    this.out = new GZIPOutputStream(sink, 64 * 1024);
  }

  /** Adds a directory; {@code path} without trailing slash. */
  void directory(String path, int mode) throws IOException {
    header(path + "/", '5', mode, 0, "");
  }

  /** Adds a symbolic link to {@code target}. */
  void symlink(String path, String target) throws IOException {
    header(path, '2', 0777, 0, target);
  }

  /** Adds a regular file of exactly {@code size} bytes read from {@code content}. */
  void file(String path, int mode, long size, InputStream content) throws IOException {
    header(path, '0', mode, size, "");
    long left = size;
    while (left > 0) {
      int n = content.read(buffer, 0, (int) Math.min(buffer.length, left));
      if (n < 0) {
        throw new IOException(path + ": file shrank while being packed");
      }
      out.write(buffer, 0, n);
      left -= n;
    }
    pad(size);
  }

  /** Writes the end-of-archive marker and finishes the gzip stream (does not close the sink). */
  void finish() throws IOException {
    out.write(new byte[BLOCK * 2]);
    out.finish();
  }

  @Override
  public void close() throws IOException {
    out.close();
  }

  private void header(String path, char type, int mode, long size, String link) throws IOException {
    String name = path;
    String prefix = "";
    boolean pax = !ascii(path) || !ascii(link) || link.length() > 100;
    if (!pax && path.length() > 100) {
      int split = splitPoint(path);
      if (split < 0) {
        pax = true;
      } else {
        prefix = path.substring(0, split);
        name = path.substring(split + 1);
      }
    }
    if (pax) {
      StringBuilder records = new StringBuilder();
      record(records, "path", path);
      if (!link.isEmpty()) {
        record(records, "linkpath", link);
      }
      byte[] body = records.toString().getBytes(StandardCharsets.UTF_8);
      // The pax header's own name is informational; readers that ignore pax still get a
      // truncated but harmless name from the ustar header that follows.
      writeHeader("PaxHeaders/" + (++paxCount), "", 'x', 0644, body.length, "");
      out.write(body);
      pad(body.length);
      name = fallbackName(path);
      prefix = "";
      link = fallbackName(link);
    }
    writeHeader(name, prefix, type, mode, size, link);
  }

  private void writeHeader(String name, String prefix, char type, int mode, long size, String link)
      throws IOException {
    byte[] h = new byte[BLOCK];
    put(h, 0, 100, name);
    octal(h, 100, 8, mode & 07777);
    octal(h, 108, 8, 0);
    octal(h, 116, 8, 0);
    octal(h, 124, 12, size);
    octal(h, 136, 12, MTIME);
    for (int i = 148; i < 156; i++) {
      h[i] = ' ';
    }
    h[156] = (byte) type;
    put(h, 157, 100, link);
    put(h, 257, 6, "ustar");
    h[262] = 0;
    h[263] = '0';
    h[264] = '0';
    put(h, 345, 155, prefix);
    long sum = 0;
    for (byte b : h) {
      sum += b & 0xff;
    }
    octal(h, 148, 7, sum);
    h[155] = ' ';
    out.write(h);
  }

  /** Where to cut a long ASCII path into ustar prefix (≤155) and name (≤100), or -1. */
  private static int splitPoint(String path) {
    for (int i = Math.min(path.length() - 1, 155); i > 0; i--) {
      if (path.charAt(i) == '/' && path.length() - i - 1 <= 100 && path.length() - i - 1 > 0) {
        return i;
      }
    }
    return -1;
  }

  private static String fallbackName(String s) {
    StringBuilder sb = new StringBuilder();
    for (int i = 0; i < s.length() && sb.length() < 100; i++) {
      char c = s.charAt(i);
      sb.append(c < 0x80 ? c : '_');
    }
    return sb.toString();
  }

  private static void record(StringBuilder sb, String key, String value) {
    // Each record is "<len> <key>=<value>\n" where len counts the whole record, itself included.
    int payload = 1 + key.length() + 1 + value.getBytes(StandardCharsets.UTF_8).length + 1;
    int len = payload + String.valueOf(payload).length();
    if (String.valueOf(len).length() != String.valueOf(payload).length()) {
      len++;
    }
    sb.append(len).append(' ').append(key).append('=').append(value).append('\n');
  }

  private static boolean ascii(String s) {
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c == 0 || c >= 0x80) {
        return false;
      }
    }
    return true;
  }

  private static void put(byte[] h, int off, int len, String s) {
    byte[] b = s.getBytes(StandardCharsets.US_ASCII);
    System.arraycopy(b, 0, h, off, Math.min(len, b.length));
  }

  private static void octal(byte[] h, int off, int len, long value) {
    String s = Long.toOctalString(value);
    if (s.length() > len - 1) {
      throw new IllegalArgumentException("value " + value + " does not fit a tar field of " + len);
    }
    s = "0".repeat(len - 1 - s.length()) + s;
    put(h, off, len - 1, s);
    h[off + len - 1] = 0;
  }

  private void pad(long size) throws IOException {
    int rem = (int) (size % BLOCK);
    if (rem != 0) {
      out.write(new byte[BLOCK - rem]);
    }
  }
}
