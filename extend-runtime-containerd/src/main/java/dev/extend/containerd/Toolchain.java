package dev.extend.containerd;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What node-gyp needs to compile native addons inside build jobs: Python 3, make and the C/C++
 * compiler with the C library's headers, taken from the host's installed Debian packages ({@code
 * g++}, {@code make}, {@code python3}) and the packages they depend on, file by file as {@code
 * dpkg} lists them (documentation, manual pages and translations left out).
 *
 * <p>Assembled once per set of package versions into {@code <dataDir>/rootfs/toolchain-<hash>/}
 * (the hash names every package and version in it, so an upgrade of any gives a new tree), then
 * hard-linked into each build tree: the build trees of every runtime share its files.
 */
final class Toolchain {
  private static final Logger LOG = LoggerFactory.getLogger(Toolchain.class);
  /**
   * The packages asked for; everything they depend on comes along. Besides the compiler, make
   * and Python, the tools the Makefiles node-gyp generates call: coreutils, sed, grep, and
   * {@code flock} (util-linux) around the linker.
   */
  static final List<String> ROOTS = List.of("g++", "make", "python3", "coreutils", "sed", "grep", "util-linux");
  private static final List<String> SKIPPED = List.of("/usr/share/doc/", "/usr/share/man/", "/usr/share/info/",
      "/usr/share/locale/", "/usr/share/lintian/", "/usr/share/bug/", "/usr/share/doc-base/");
  /** Bumped when what is copied changes. */
  private static final String RECIPE = "2";

  private Toolchain() {}

  /** Links the files of the toolchain {@code tree} into {@code root}. */
  static void linkInto(Path tree, Path root) throws IOException {
    try (Stream<Path> all = Files.walk(tree)) {
      for (Path p : (Iterable<Path>) all::iterator) {
        String rel = tree.relativize(p).toString();
        if (rel.isEmpty() || rel.equals(RootfsAssembler.MARKER)) {
          continue;
        }
        Path dest = root.resolve(rel);
        if (Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)) {
          Files.createDirectories(dest);
        } else if (Files.isSymbolicLink(p)) {
          Files.createDirectories(dest.getParent());
          Files.deleteIfExists(dest);
          Files.createSymbolicLink(dest, Files.readSymbolicLink(p));
        } else if (!Files.exists(dest, LinkOption.NOFOLLOW_LINKS)) {
          Files.createDirectories(dest.getParent());
          try {
            Files.createLink(dest, p);
          } catch (IOException | UnsupportedOperationException crossDevice) {
            Files.copy(p, dest, StandardCopyOption.COPY_ATTRIBUTES);
          }
        }
      }
    }
  }

  /**
   * The shared toolchain tree under {@code parent}, assembled now unless present; null, with a
   * warning, when the host lacks the packages (module builds then work, native addons do not
   * compile).
   */
  static synchronized Path ensure(Path parent) throws IOException {
    Map<String, Pkg> installed = installed();
    if (installed == null) {
      return null;
    }
    List<String> missing = ROOTS.stream().filter(r -> !installed.containsKey(r)).toList();
    if (!missing.isEmpty()) {
      LOG.warn("the host lacks the Debian packages {}: build jobs get no compiler, and native addons (node-gyp)"
          + " will not build; install them (apt-get install {})", missing, String.join(" ", missing));
      return null;
    }
    Set<String> closure = closure(installed);
    StringBuilder id = new StringBuilder("recipe=" + RECIPE + "\n");
    for (String name : new TreeSet<>(closure)) {
      id.append(name).append('=').append(installed.get(name).version).append('\n');
    }
    Path target = parent.resolve("toolchain-" + sha256(id.toString()).substring(0, 16));
    if (complete(target, id.toString())) {
      return target;
    }
    Files.createDirectories(parent);
    Path tmp = Files.createTempDirectory(parent, ".toolchain-");
    long t0 = System.nanoTime();
    try {
      long bytes = 0;
      int files = 0;
      for (String name : closure) {
        for (String line : run(List.of("dpkg-query", "-L", name)).split("\n")) {
          String path = line.trim();
          if (!path.startsWith("/") || path.equals("/.") || SKIPPED.stream().anyMatch(path::startsWith)) {
            continue;
          }
          Path src = Path.of(path);
          // Directories come with their files; a link to a directory (merged /usr: /lib64 ->
          // usr/lib64) is left out, its files land under the path dpkg names.
          if (!Files.exists(src, LinkOption.NOFOLLOW_LINKS) || Files.isDirectory(src)) {
            continue;
          }
          Path dest = tmp.resolve(path.substring(1));
          if (Files.exists(dest, LinkOption.NOFOLLOW_LINKS)) {
            continue;
          }
          Files.createDirectories(dest.getParent());
          if (Files.isSymbolicLink(src)) {
            Files.createSymbolicLink(dest, Files.readSymbolicLink(src));
          } else if (Files.isRegularFile(src, LinkOption.NOFOLLOW_LINKS)) {
            Files.copy(src, dest, StandardCopyOption.COPY_ATTRIBUTES);
            // The nine permission bits only: no set-user-id or set-group-id program comes along.
            Files.setPosixFilePermissions(dest, Files.getPosixFilePermissions(dest, LinkOption.NOFOLLOW_LINKS));
            bytes += Files.size(dest);
            files++;
          }
        }
      }
      // The alternatives Debian sets up at install time (cc, c++, ...): the links node-gyp's make calls.
      for (String alt : List.of("usr/bin/cc", "usr/bin/c++", "usr/bin/cpp")) {
        Path host = Path.of("/" + alt);
        Path dest = tmp.resolve(alt);
        if (!Files.exists(dest, LinkOption.NOFOLLOW_LINKS) && Files.exists(host)) {
          Path real = host.toRealPath();
          if (Files.exists(tmp.resolve(real.toString().substring(1)), LinkOption.NOFOLLOW_LINKS)) {
            Files.createDirectories(dest.getParent());
            Files.createSymbolicLink(dest, real);
          }
        }
      }
      Files.writeString(tmp.resolve(RootfsAssembler.MARKER), id.toString());
      if (Files.exists(target, LinkOption.NOFOLLOW_LINKS)) {
        // Half made by a process that died: moved aside, then replaced.
        Path old = parent.resolve(".old-" + target.getFileName() + "-" + System.nanoTime());
        Files.move(target, old, StandardCopyOption.ATOMIC_MOVE);
        RootfsAssembler.deleteTree(old);
      }
      try {
        Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
      } catch (java.nio.file.FileSystemException raced) {
        if (!complete(target, id.toString())) {
          throw raced;
        }
        RootfsAssembler.deleteTree(tmp); // another process made the same tree meanwhile
      }
      LOG.info("assembled the build toolchain {} ({} packages, {} files, {} MiB) in {} ms", target, closure.size(), files,
          bytes >> 20, TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0));
      return target;
    } catch (IOException | RuntimeException e) {
      RootfsAssembler.deleteTree(tmp);
      throw e;
    }
  }

  private static boolean complete(Path tree, String id) {
    try {
      return Files.readString(tree.resolve(RootfsAssembler.MARKER)).equals(id);
    } catch (IOException e) {
      return false;
    }
  }

  private record Pkg(String name, String version, String depends, List<String> provides) {}

  /** The host's installed packages by name (and by what they provide), or null without dpkg. */
  private static Map<String, Pkg> installed() throws IOException {
    String out;
    try {
      out = run(List.of("dpkg-query", "-W", "-f", "${Package}\\t${Status}\\t${Version}\\t${Pre-Depends}, ${Depends}\\t${Provides}\\n"));
    } catch (IOException e) {
      LOG.warn("dpkg-query is not usable ({}): build jobs get no compiler toolchain", e.getMessage());
      return null;
    }
    Map<String, Pkg> byName = new HashMap<>();
    Map<String, Pkg> byProvides = new HashMap<>();
    for (String line : out.split("\n")) {
      String[] f = line.split("\t", -1);
      if (f.length < 5 || !f[1].endsWith(" installed")) {
        continue;
      }
      List<String> provides = new ArrayList<>();
      for (String p : f[4].split(",")) {
        String n = bare(p);
        if (!n.isEmpty()) {
          provides.add(n);
        }
      }
      Pkg pkg = new Pkg(f[0], f[2], f[3], provides);
      byName.put(pkg.name, pkg);
      provides.forEach(p -> byProvides.putIfAbsent(p, pkg));
    }
    byProvides.forEach(byName::putIfAbsent);
    return byName;
  }

  /** The roots and every package they depend on, recursively (first installed alternative). */
  private static Set<String> closure(Map<String, Pkg> installed) {
    Set<String> out = new LinkedHashSet<>();
    Deque<String> todo = new ArrayDeque<>(ROOTS);
    while (!todo.isEmpty()) {
      Pkg p = installed.get(todo.pop());
      if (p == null || !out.add(p.name)) {
        continue;
      }
      for (String dep : p.depends.split(",")) {
        for (String alt : dep.split("\\|")) {
          String n = bare(alt);
          if (!n.isEmpty() && installed.containsKey(n)) {
            todo.push(n);
            break;
          }
        }
      }
    }
    return out;
  }

  /** A package name without its version constraint and architecture qualifier. */
  private static String bare(String s) {
    String t = s.trim();
    int cut = t.indexOf(' ');
    if (cut >= 0) {
      t = t.substring(0, cut);
    }
    int colon = t.indexOf(':');
    return colon >= 0 ? t.substring(0, colon) : t;
  }

  private static String run(List<String> command) throws IOException {
    Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
    byte[] bytes = p.getInputStream().readNBytes(64 << 20);
    try {
      if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
        p.destroyForcibly();
        throw new IOException(String.join(" ", command) + " failed");
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted", e);
    }
    return new String(bytes, StandardCharsets.UTF_8);
  }

  private static String sha256(String s) {
    try {
      return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8)));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
