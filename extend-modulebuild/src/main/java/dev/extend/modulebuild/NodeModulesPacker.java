package dev.extend.modulebuild;

import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

/**
 * Packs a {@code node_modules} directory into a tar.gz whose entries are named
 * {@code node_modules/...}. Symlinks stay symlinks as long as they point inside the tree (npm's
 * {@code .bin} entries); links leaving it, and anything that is not a file, directory or link,
 * are left out and logged, so an unpacked module can never reach outside its own directory.
 */
final class NodeModulesPacker {

  /** The packed tarball grew beyond the allowed size. */
  static final class TooLargeException extends IOException {
    private static final long serialVersionUID = 1L;

    TooLargeException(long max) {
      super("module tarball exceeds the maximum size of " + max + " bytes");
    }
  }

  /** What was packed. */
  record Summary(int files, int directories, int symlinks, long contentBytes) {}

  private final Path root;
  private final Consumer<String> log;
  private int files;
  private int directories;
  private int symlinks;
  private long contentBytes;

  private NodeModulesPacker(Path root, Consumer<String> log) {
    this.root = root;
    this.log = log;
  }

  /**
   * Packs {@code nodeModules} into {@code sink}.
   *
   * @throws TooLargeException when the compressed output would exceed {@code maxBytes}
   */
  static Summary pack(Path nodeModules, OutputStream sink, long maxBytes, Consumer<String> log)
      throws IOException {
    Path root = nodeModules.toRealPath();
    NodeModulesPacker packer = new NodeModulesPacker(root, log);
    CappedOutputStream capped = new CappedOutputStream(sink, maxBytes);
    TarGzWriter tar = new TarGzWriter(capped);
    tar.directory("node_modules", 0755);
    packer.directories++;
    packer.walk(root, "node_modules", tar);
    tar.finish();
    capped.flush();
    return new Summary(packer.files, packer.directories, packer.symlinks, packer.contentBytes);
  }

  private void walk(Path dir, String entry, TarGzWriter tar) throws IOException {
    List<Path> children = new ArrayList<>();
    try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir)) {
      ds.forEach(children::add);
    }
    // Sorted so that the same tree always yields the same tarball.
    children.sort((a, b) -> a.getFileName().toString().compareTo(b.getFileName().toString()));
    for (Path child : children) {
      String name = entry + "/" + child.getFileName();
      PosixFileAttributes attrs =
          Files.readAttributes(child, PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
      if (attrs.isSymbolicLink()) {
        String target = insideTarget(child);
        if (target == null) {
          log.accept("pack: left out symlink " + name + " -> " + Files.readSymbolicLink(child)
              + " (points outside node_modules)");
        } else {
          tar.symlink(name, target);
          symlinks++;
        }
      } else if (attrs.isDirectory()) {
        tar.directory(name, 0755);
        directories++;
        walk(child, name, tar);
      } else if (attrs.isRegularFile()) {
        boolean exec = attrs.permissions().contains(PosixFilePermission.OWNER_EXECUTE);
        try (InputStream in = Files.newInputStream(child, LinkOption.NOFOLLOW_LINKS)) {
          tar.file(name, exec ? 0755 : 0644, attrs.size(), in);
        }
        files++;
        contentBytes += attrs.size();
      } else {
        log.accept("pack: left out " + name + " (not a file, directory or symlink)");
      }
    }
  }

  /**
   * The link's target as a relative path when it resolves inside the packed tree, else null.
   * Absolute targets inside the tree are rewritten as relative ones, because the tree is
   * unpacked elsewhere.
   */
  private String insideTarget(Path link) throws IOException {
    Path target = Files.readSymbolicLink(link);
    Path parent = link.getParent();
    Path resolved = parent.resolve(target).normalize();
    if (!resolved.startsWith(root) || resolved.equals(root)) {
      return null;
    }
    String rel = target.isAbsolute() ? parent.relativize(resolved).toString() : target.toString();
    return rel.isEmpty() ? null : rel;
  }

  /** Counts bytes and fails as soon as the cap is crossed, so an oversize pack stops early. */
  private static final class CappedOutputStream extends FilterOutputStream {
    private final long max;
    private long written;

    CappedOutputStream(OutputStream out, long max) {
      super(out);
      this.max = max;
    }

    @Override
    public void write(int b) throws IOException {
      count(1);
      out.write(b);
    }

    @Override
    public void write(byte[] b, int off, int len) throws IOException {
      count(len);
      out.write(b, off, len);
    }

    private void count(int n) throws IOException {
      written += n;
      if (written > max) {
        throw new TooLargeException(max);
      }
    }

    @Override
    public void close() {
      // The sink belongs to the caller.
    }
  }
}
