package dev.extend.modulebuild;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.GZIPInputStream;

/** A built tarball read back entry by entry (ustar with pax path records), for assertions. */
record Tarball(List<Entry> entries, byte[] raw) {
  /** One entry: type '0' file, '2' symlink, '5' directory, others as found. */
  record Entry(String name, char type, String link, byte[] content) {}

  static Tarball read(Path tgz) throws IOException {
    byte[] raw;
    try (InputStream in = new GZIPInputStream(Files.newInputStream(tgz))) {
      raw = in.readAllBytes();
    }
    List<Entry> out = new ArrayList<>();
    int pos = 0;
    String paxPath = null;
    String paxLink = null;
    while (pos + 512 <= raw.length) {
      String name = field(raw, pos, 100);
      if (name.isEmpty()) {
        break;
      }
      String prefix = field(raw, pos + 345, 155);
      long size = Long.parseLong(field(raw, pos + 124, 12).trim().isEmpty() ? "0" : field(raw, pos + 124, 12).trim(), 8);
      char type = (char) raw[pos + 156];
      String link = field(raw, pos + 157, 100);
      byte[] content = java.util.Arrays.copyOfRange(raw, pos + 512, (int) (pos + 512 + size));
      pos += 512 + (int) ((size + 511) / 512 * 512);
      if (type == 'x') {
        for (String rec : new String(content, StandardCharsets.UTF_8).split("\n")) {
          int sp = rec.indexOf(' ');
          int eq = rec.indexOf('=');
          if (sp > 0 && eq > sp) {
            String key = rec.substring(sp + 1, eq);
            if (key.equals("path")) {
              paxPath = rec.substring(eq + 1);
            } else if (key.equals("linkpath")) {
              paxLink = rec.substring(eq + 1);
            }
          }
        }
        continue;
      }
      String full = paxPath != null ? paxPath : prefix.isEmpty() ? name : prefix + "/" + name;
      out.add(new Entry(full.endsWith("/") ? full.substring(0, full.length() - 1) : full, type,
          paxLink != null ? paxLink : link, content));
      paxPath = null;
      paxLink = null;
    }
    return new Tarball(out, raw);
  }

  private static String field(byte[] raw, int off, int len) {
    int end = off;
    while (end < off + len && raw[end] != 0) {
      end++;
    }
    return new String(raw, off, end - off, StandardCharsets.UTF_8);
  }

  List<String> names() {
    return entries.stream().map(Entry::name).toList();
  }

  /** "name -> target" of every symlink. */
  List<String> links() {
    return entries.stream().filter(e -> e.type() == '2').map(e -> e.name() + " -> " + e.link()).toList();
  }

  boolean contains(String text) {
    return new String(raw, StandardCharsets.ISO_8859_1).contains(text);
  }
}
