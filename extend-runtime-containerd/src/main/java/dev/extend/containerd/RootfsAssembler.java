package dev.extend.containerd;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Builds the read-only root filesystems sandboxes and build jobs run from, without any image
 * registry. Two kinds ({@link Kind}):
 *
 * <ul>
 *   <li>the <b>sandbox</b> tree: the {@code node} binary of one of the platform's verified
 *       runtime distributions (never the host's) and the shared libraries {@code ldd} lists for it, CA certificates, {@code /etc/passwd} and {@code /etc/group} naming root
 *       and nobody (each task sees its own over them, naming its uid), name-service files, and every mount point the specs
 *       use (the root is mounted read-only, so nothing can be created in it at start). No shell
 *       and no npm: a tenant's code finds nothing to run but node;
 *   <li>the <b>build</b> tree: the same plus the distribution's npm (its package under {@code
 *       /usr/lib/node_modules/npm} and a {@code /usr/bin/npm} launcher), its headers under {@code
 *       /usr/include/node} (node-gyp builds native addons against them: {@code
 *       npm_config_nodedir=/usr}), {@code /usr/bin/env} and {@code /bin/sh} for npm's launcher and
 *       lifecycle scripts, and the host's compiler toolchain ({@link Toolchain}) for node-gyp.
 * </ul>
 *
 * <p>One tree per kind and distribution under {@code <dataDir>/rootfs/<distribution>-r<recipe>/}
 * (sandbox) and {@code ...-build/}, assembled in a temporary directory and renamed into place, so
 * a crash never leaves a half tree behind.
 */
final class RootfsAssembler {
  private static final Logger LOG = LoggerFactory.getLogger(RootfsAssembler.class);
  /** Bumped when the recipe changes, so old trees are not reused. */
  static final String RECIPE = "5";
  static final String MARKER = ".extend-rootfs";
  private static final Pattern LDD_PATH = Pattern.compile("(/\\S+)\\s*(\\(0x[0-9a-f]+\\))?$");

  private RootfsAssembler() {}

  /** What a tree is for. */
  enum Kind {
    /** Sandboxes: node and what it needs, nothing to run besides. */
    SANDBOX(""),
    /** Build jobs: also npm, {@code /usr/bin/env} and {@code /bin/sh}. */
    BUILD("-build");

    final String suffix;

    Kind(String suffix) {
      this.suffix = suffix;
    }
  }

  /** The sandbox tree for the distribution in {@code runtimeDir}, assembled now unless it already exists. */
  static Path ensure(Path dataDir, Path runtimeDir) throws IOException {
    return ensure(dataDir, runtimeDir, Kind.SANDBOX);
  }

  /** The tree of {@code kind} for the distribution in {@code runtimeDir}, assembled now unless it already exists. */
  static Path ensure(Path dataDir, Path runtimeDir, Kind kind) throws IOException {
    String distribution = runtimeDir.toAbsolutePath().normalize().getFileName().toString();
    if (!distribution.matches("[0-9A-Za-z.+-]{1,100}")) {
      throw new IOException("unexpected runtime distribution directory name: " + distribution);
    }
    Path parent = dataDir.resolve("rootfs");
    // A build tree is named by its toolchain too: an upgrade of a host package gives a new one.
    Path toolchain = kind == Kind.BUILD ? Toolchain.ensure(parent) : null;
    Path target = parent.resolve(distribution + "-r" + RECIPE + kind.suffix
        + (toolchain == null ? "" : "-" + toolchain.getFileName()));
    if (isComplete(target)) {
      return target;
    }
    Files.createDirectories(parent);
    Path tmp = Files.createTempDirectory(parent, ".assembling-");
    try {
      long t0 = System.nanoTime();
      assemble(tmp, runtimeDir, kind, toolchain);
      Files.writeString(tmp.resolve(MARKER), "recipe=" + RECIPE + "\nruntime=" + distribution + "\nkind="
          + kind.name().toLowerCase(java.util.Locale.ROOT) + "\n");
      if (Files.exists(target)) {
        // An older recipe: move it aside first; rename of a non-empty directory onto another fails.
        Path old = parent.resolve(".old-" + target.getFileName() + "-" + System.nanoTime());
        Files.move(target, old, StandardCopyOption.ATOMIC_MOVE);
        deleteTree(old);
      }
      try {
        Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
      } catch (FileAlreadyExistsException | java.nio.file.DirectoryNotEmptyException raced) {
        // Another process assembled it at the same time: theirs is as good as ours.
        deleteTree(tmp);
      }
      LOG.info("assembled root filesystem {} in {} ms", target, TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0));
      return target;
    } catch (IOException | RuntimeException e) {
      deleteTree(tmp);
      throw e;
    }
  }

  static boolean isComplete(Path tree) {
    try {
      return Files.readString(tree.resolve(MARKER)).contains("recipe=" + RECIPE + "\n");
    } catch (IOException e) {
      return false;
    }
  }

  /** Checks that a tree given by the user can run sandboxes; returns what is missing, or null. */
  static String checkCustom(Path tree) {
    return checkCustom(tree, Kind.SANDBOX);
  }

  /** Checks that a tree given by the user can serve as {@code kind}; returns what is missing, or null. */
  static String checkCustom(Path tree, Kind kind) {
    List<String> missing = new ArrayList<>();
    if (!Files.isExecutable(tree.resolve("usr/bin/node"))) {
      missing.add("usr/bin/node");
    }
    if (kind == Kind.BUILD && !Files.exists(tree.resolve("usr/bin/npm"))) {
      missing.add("usr/bin/npm");
    }
    for (String p : kind == Kind.BUILD ? OciSpecs.JOB_MOUNT_POINTS : OciSpecs.MOUNT_POINTS) {
      if (!Files.isDirectory(tree.resolve(p))) {
        missing.add(p + "/");
      }
    }
    return missing.isEmpty() ? null : "root filesystem " + tree + " lacks " + String.join(", ", missing);
  }

  private static void assemble(Path root, Path runtimeDir, Kind kind, Path toolchain) throws IOException {
    Path node = runtimeDir.resolve("bin/node");
    if (!Files.isRegularFile(node, LinkOption.NOFOLLOW_LINKS)) {
      throw new IOException("runtime distribution " + runtimeDir + " has no bin/node");
    }
    copyFile(node, root.resolve("usr/bin/node"));
    Set<Path> libs = new LinkedHashSet<>(ldd(node));
    for (String extra : kind == Kind.BUILD ? List.of("/usr/bin/env", "/bin/sh") : List.<String>of()) {
      Path p = Path.of(extra);
      if (Files.exists(p)) {
        copyFile(p.toRealPath(), root.resolve(extra.substring(1)));
        libs.addAll(ldd(p.toRealPath()));
      }
    }
    for (Path lib : libs) {
      // Keep the path ldd printed (e.g. /lib64/ld-linux-x86-64.so.2), with the content it points to.
      copyFile(lib.toRealPath(), root.resolve(lib.toString().substring(1)));
    }

    // npm: the distribution's package, and a launcher at the usual place (its shebang is
    // "/usr/bin/env node"); the headers node-gyp compiles addons against.
    if (kind == Kind.BUILD) {
      Path npm = runtimeDir.resolve("lib/node_modules/npm");
      if (!Files.isRegularFile(npm.resolve("bin/npm-cli.js"), LinkOption.NOFOLLOW_LINKS)) {
        throw new IOException("runtime distribution " + runtimeDir + " has no npm");
      }
      copyTree(npm, root.resolve("usr/lib/node_modules/npm"));
      Files.createSymbolicLink(root.resolve("usr/bin/npm"), Path.of("../lib/node_modules/npm/bin/npm-cli.js"));
      if (Files.exists(npm.resolve("bin/npx-cli.js"))) {
        Files.createSymbolicLink(root.resolve("usr/bin/npx"), Path.of("../lib/node_modules/npm/bin/npx-cli.js"));
      }
      Path include = runtimeDir.resolve("include/node");
      if (Files.isDirectory(include, LinkOption.NOFOLLOW_LINKS)) {
        copyTree(include, root.resolve("usr/include/node"));
      }
      if (toolchain != null) {
        Toolchain.linkInto(toolchain, root);
      }
    }

    Path etc = Files.createDirectories(root.resolve("etc"));
    Files.writeString(etc.resolve("passwd"),
        "root:x:0:0:root:/root:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n");
    Files.writeString(etc.resolve("group"), "root:x:0:\nnogroup:x:65534:\n");
    Files.writeString(etc.resolve("hosts"), "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
    Files.writeString(etc.resolve("nsswitch.conf"), "passwd: files\ngroup: files\nhosts: files dns\n");
    // A mount point for jobs' bind of the host's resolver configuration; empty for sandboxes.
    Files.writeString(etc.resolve("resolv.conf"), "");
    // A mount point for the platform's extra CA certificates (NODE_EXTRA_CA_CERTS).
    Files.createDirectories(etc.resolve("extend"));
    Files.writeString(etc.resolve("extend/ca.pem"), "");
    Path certs = Path.of("/etc/ssl/certs/ca-certificates.crt");
    if (Files.exists(certs)) {
      copyFile(certs.toRealPath(), root.resolve("etc/ssl/certs/ca-certificates.crt"));
    }
    for (String p : kind == Kind.BUILD ? OciSpecs.JOB_MOUNT_POINTS : OciSpecs.MOUNT_POINTS) {
      Files.createDirectories(root.resolve(p));
    }
    Files.setPosixFilePermissions(root.resolve("tmp"), PosixFilePermissions.fromString("rwxrwxrwx"));
    // Everything readable and traversable by the sandbox user, writable by nobody but root.
    try (Stream<Path> all = Files.walk(root)) {
      for (Path p : (Iterable<Path>) all::iterator) {
        if (Files.isSymbolicLink(p)) {
          continue;
        }
        var perms = Files.getPosixFilePermissions(p, LinkOption.NOFOLLOW_LINKS);
        perms.add(java.nio.file.attribute.PosixFilePermission.OWNER_READ);
        perms.add(java.nio.file.attribute.PosixFilePermission.GROUP_READ);
        perms.add(java.nio.file.attribute.PosixFilePermission.OTHERS_READ);
        if (Files.isDirectory(p) || perms.contains(java.nio.file.attribute.PosixFilePermission.OWNER_EXECUTE)) {
          perms.add(java.nio.file.attribute.PosixFilePermission.GROUP_EXECUTE);
          perms.add(java.nio.file.attribute.PosixFilePermission.OTHERS_EXECUTE);
        }
        perms.remove(java.nio.file.attribute.PosixFilePermission.GROUP_WRITE);
        perms.remove(java.nio.file.attribute.PosixFilePermission.OTHERS_WRITE);
        if (!p.equals(root.resolve("tmp"))) {
          Files.setPosixFilePermissions(p, perms);
        }
      }
    }
    Files.setPosixFilePermissions(root, PosixFilePermissions.fromString("rwxr-xr-x"));
    // Executable, not readable, by the sandbox's user: the kernel then marks every process that
    // runs it not dumpable, so no process of the same user can open another's /proc/<pid>/mem
    // (an install script rewriting the build driver in memory, say) or ptrace it.
    Files.setPosixFilePermissions(root.resolve("usr/bin/node"), PosixFilePermissions.fromString("rwx--x--x"));
  }

  /** Absolute paths of the shared libraries (and loader) a binary needs. */
  static List<Path> ldd(Path binary) throws IOException {
    List<Path> out = new ArrayList<>();
    for (String line : run(List.of("ldd", binary.toString())).split("\n")) {
      line = line.trim();
      if (line.isEmpty() || line.startsWith("linux-vdso") || line.contains("not a dynamic executable")) {
        continue;
      }
      if (line.contains("not found")) {
        throw new IOException("ldd " + binary + ": " + line);
      }
      Matcher m = LDD_PATH.matcher(line);
      if (m.find()) {
        out.add(Path.of(m.group(1)));
      }
    }
    return out;
  }

  private static String run(List<String> command) throws IOException {
    Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
    String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    try {
      if (!p.waitFor(30, TimeUnit.SECONDS) || p.exitValue() != 0) {
        throw new IOException(String.join(" ", command) + " failed: " + output.trim());
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted", e);
    }
    return output;
  }

  private static void copyFile(Path from, Path to) throws IOException {
    Files.createDirectories(to.getParent());
    Files.copy(from, to, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.COPY_ATTRIBUTES);
  }

  private static void copyTree(Path from, Path to) throws IOException {
    try (Stream<Path> all = Files.walk(from)) {
      for (Path p : (Iterable<Path>) all::iterator) {
        Path dest = to.resolve(from.relativize(p).toString());
        if (Files.isSymbolicLink(p)) {
          Files.createDirectories(dest.getParent());
          Files.createSymbolicLink(dest, Files.readSymbolicLink(p));
        } else if (Files.isDirectory(p)) {
          Files.createDirectories(dest);
        } else {
          copyFile(p, dest);
        }
      }
    }
  }

  static void deleteTree(Path dir) {
    if (!Files.exists(dir, LinkOption.NOFOLLOW_LINKS)) {
      return;
    }
    try (Stream<Path> all = Files.walk(dir)) {
      all.sorted(Comparator.reverseOrder()).forEach(p -> {
        try {
          Files.deleteIfExists(p);
        } catch (IOException ignored) {
          // best effort: what stays is reported by the caller's next attempt
        }
      });
    } catch (IOException ignored) {
      // the directory vanished meanwhile
    }
  }
}
