package dev.extend.modulebuild;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.extend.ModuleRef;
import dev.extend.spi.JobRunner;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.channels.Channels;
import java.nio.channels.SeekableByteChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;
import java.util.regex.Pattern;

/**
 * Takes a build's results out of its work area: {@code out/module.tgz} (copied to the build's
 * output) and {@code out/result.json} (installed version and peer dependencies). Everything
 * there was written by the job and is hostile: no link is followed, only regular files are
 * opened, sizes are capped, and what reaches the (tenant-visible) log is validated data or a
 * fixed message, never file content or exception text.
 */
final class BuildOutput implements JobRunner.Collector {
  static final long MAX_RESULT_BYTES = 64 << 10;
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Pattern PACKAGE_NAME =
      Pattern.compile("(@[a-z0-9][a-z0-9._~-]{0,213}/)?[a-z0-9][a-z0-9._~-]{0,213}");
  private static final Pattern RANGE = Pattern.compile("[A-Za-z0-9 .^~<>=|*+_:/@-]{1,128}");

  /** What the job left cannot be used; the message is fixed text. */
  static final class Unusable extends IOException {
    private static final long serialVersionUID = 1L;

    Unusable(String message) {
      super(message);
    }
  }

  private final ModuleRef module;
  private final Path output;
  private final long maxTarballBytes;
  private final Consumer<String> log;

  BuildOutput(ModuleRef module, Path output, long maxTarballBytes, Consumer<String> log) {
    this.module = module;
    this.output = output;
    this.maxTarballBytes = maxTarballBytes;
    this.log = log;
  }

  @Override
  public void collect(int status, Path workDir) throws IOException {
    if (status != 0) {
      return;
    }
    Path out = workDir.resolve("out");
    if (!Files.isDirectory(out, LinkOption.NOFOLLOW_LINKS)) {
      throw new Unusable("the build left no out/ directory");
    }
    JsonNode result;
    try {
      result = JSON.readTree(read(out.resolve("result.json"), MAX_RESULT_BYTES, "result.json"));
    } catch (Unusable e) {
      throw e;
    } catch (IOException e) {
      throw new Unusable("result.json unreadable");
    }
    if (result == null || !result.isObject() || !module.version().equals(result.path("version").asText(null))) {
      throw new Unusable("result.json does not name the version built");
    }
    logPeers(result.path("peerDependencies"));
    copyTarball(out.resolve("module.tgz"));
    checkUnpackedSize(heldBytes(workDir));
  }

  /** Slack over what the work area held: the tarball's own headers, npm's rounding. */
  static final long UNPACKED_SLACK = 16L << 20;
  /** Most bytes a module may unpack to, whatever its work area held. */
  static final long MAX_UNPACKED_BYTES = 1L << 30;

  /**
   * What the work area holds now (its file system's used bytes), when it is a file system of
   * its own, else -1. A sparse file takes no block there, but unpacks to its full size on every
   * node: a module may not unpack to more than its build really held.
   */
  static long heldBytes(Path workDir) {
    try {
      java.nio.file.FileStore own = Files.getFileStore(workDir);
      java.nio.file.FileStore parent = Files.getFileStore(workDir.toAbsolutePath().getParent());
      if (own.equals(parent)) {
        return -1;
      }
      return own.getTotalSpace() - own.getUnallocatedSpace();
    } catch (IOException | RuntimeException e) {
      return -1;
    }
  }

  /**
   * Adds up the sizes of the tarball's file entries (headers only, never the data kept) and
   * refuses one that unpacks to more than its work area held, or than {@link #MAX_UNPACKED_BYTES}.
   */
  private void checkUnpackedSize(long held) throws IOException {
    long limit = held < 0 ? MAX_UNPACKED_BYTES : Math.min(MAX_UNPACKED_BYTES, held + UNPACKED_SLACK);
    long total = 0;
    try (InputStream in = new java.util.zip.GZIPInputStream(Files.newInputStream(output), 1 << 16)) {
      byte[] h = new byte[512];
      while (in.readNBytes(h, 0, 512) == 512) {
        boolean zero = true;
        for (byte b : h) {
          if (b != 0) {
            zero = false;
            break;
          }
        }
        if (zero) {
          break;
        }
        long size = octal(h, 124, 12);
        if (size < 0) {
          throw new Unusable("module tarball has a malformed entry");
        }
        byte type = h[156];
        if (type == '0' || type == 0 || type == '7') {
          total += size;
          if (total > limit) {
            Files.deleteIfExists(output);
            throw new Unusable("the module would unpack to more than its build held (" + (limit >> 20) + " MiB)");
          }
        }
        in.skipNBytes((size + 511) / 512 * 512);
      }
    } catch (Unusable e) {
      throw e;
    } catch (IOException e) {
      Files.deleteIfExists(output);
      throw new Unusable("module.tgz unreadable");
    }
  }

  /** An octal header number, or -1 when malformed (base-256 sizes are not used by npm's tar). */
  private static long octal(byte[] h, int off, int len) {
    long v = 0;
    boolean any = false;
    for (int i = off; i < off + len; i++) {
      byte b = h[i];
      if (b == 0 || b == ' ') {
        if (any) {
          break;
        }
        continue;
      }
      if (b < '0' || b > '7') {
        return -1;
      }
      any = true;
      v = v * 8 + (b - '0');
      if (v > (1L << 40)) {
        return -1;
      }
    }
    return v;
  }

  private void logPeers(JsonNode peers) {
    if (!peers.isObject() || peers.isEmpty()) {
      return;
    }
    StringBuilder sb = new StringBuilder();
    int n = 0;
    for (Map.Entry<String, JsonNode> e : peers.properties()) {
      String range = e.getValue().asText("");
      if (++n > 100 || !PACKAGE_NAME.matcher(e.getKey()).matches() || !RANGE.matcher(range).matches()) {
        sb.append(sb.length() == 0 ? "" : ", ").append("(some left out: not a package name and range)");
        break;
      }
      sb.append(sb.length() == 0 ? "" : ", ").append(e.getKey()).append('@').append(range);
    }
    log.accept("peer dependencies, not bundled (resolved from the webhook's own dependencies at run time): " + sb);
  }

  private void copyTarball(Path tarball) throws IOException {
    BasicFileAttributes attrs = regularFile(tarball, "module.tgz");
    if (attrs.size() > maxTarballBytes) {
      throw new Unusable("module tarball exceeds the maximum size of " + maxTarballBytes + " bytes");
    }
    try (SeekableByteChannel ch = Files.newByteChannel(tarball, Set.of(StandardOpenOption.READ,
        LinkOption.NOFOLLOW_LINKS));
        InputStream in = Channels.newInputStream(ch);
        OutputStream os = Files.newOutputStream(output)) {
      byte[] buf = new byte[64 << 10];
      long total = 0;
      for (int r; (r = in.read(buf)) > 0; ) {
        total += r;
        if (total > maxTarballBytes) {
          throw new Unusable("module tarball exceeds the maximum size of " + maxTarballBytes + " bytes");
        }
        os.write(buf, 0, r);
      }
    } catch (Unusable e) {
      Files.deleteIfExists(output);
      throw e;
    } catch (IOException e) {
      Files.deleteIfExists(output);
      throw new Unusable("module.tgz unreadable");
    }
  }

  /** The whole file, when it is a regular file (not a link, FIFO, device...) of at most {@code max} bytes. */
  private static byte[] read(Path file, long max, String what) throws IOException {
    regularFile(file, what);
    try (SeekableByteChannel ch = Files.newByteChannel(file, Set.of(StandardOpenOption.READ,
        LinkOption.NOFOLLOW_LINKS))) {
      if (ch.size() > max) {
        throw new Unusable(what + " is larger than " + max + " bytes");
      }
      byte[] data = Channels.newInputStream(ch).readNBytes((int) max + 1);
      if (data.length > max) {
        throw new Unusable(what + " is larger than " + max + " bytes");
      }
      return data;
    } catch (Unusable e) {
      throw e;
    } catch (IOException e) {
      throw new Unusable(what + " unreadable");
    }
  }

  /**
   * The file's attributes when it is a regular file. Checked before opening: opening a FIFO
   * would block. No job process is left to swap it between check and open.
   */
  private static BasicFileAttributes regularFile(Path file, String what) throws Unusable {
    BasicFileAttributes attrs;
    try {
      attrs = Files.readAttributes(file, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
    } catch (IOException e) {
      throw new Unusable(what + " unreadable");
    }
    if (!attrs.isRegularFile()) {
      throw new Unusable(what + " is not a regular file");
    }
    return attrs;
  }
}
