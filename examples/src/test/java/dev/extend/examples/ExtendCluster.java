package dev.extend.examples;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Processes of a local Extend cluster for tests: standalone server nodes (child JVMs running
 * {@code extend-server.jar}) and private nginx instances rendered from
 * {@code examples/multi-node/}. Everything lives below one work directory; {@link #close()}
 * stops every process started here, their children included.
 */
final class ExtendCluster implements AutoCloseable {
  private static final Pattern READY = Pattern.compile("Extend server ready on http://127\\.0\\.0\\.1:(\\d+)");

  private final Path work;
  private final Path serverJar;
  private final Path multiNodeDir;
  private final Map<String, String> sharedEnv;
  private final List<Node> nodes = new CopyOnWriteArrayList<>();
  private final List<Nginx> nginxes = new CopyOnWriteArrayList<>();
  /** Processes left behind by nodes killed on purpose (their sandboxes), ended at close. */
  private final List<ProcessHandle> orphans = new CopyOnWriteArrayList<>();
  /** Ends the processes also when the test JVM is stopped before {@link #close()} runs. */
  private final Thread onExit = new Thread(this::stopAll, "extend-cluster-exit");

  /**
   * A cluster whose nodes share {@code sharedEnv} (database, keys, admin token, ...).
   *
   * @param work a fresh directory for data, configuration and logs
   */
  ExtendCluster(Path work, Path serverJar, Path multiNodeDir, Map<String, String> sharedEnv) throws IOException {
    this.work = work;
    this.serverJar = serverJar;
    this.multiNodeDir = multiNodeDir;
    this.sharedEnv = Map.copyOf(sharedEnv);
    // nginx workers run as an unprivileged user and must reach their temp directories.
    Files.setPosixFilePermissions(work, PosixFilePermissions.fromString("rwxr-xr-x"));
    Runtime.getRuntime().addShutdownHook(onExit);
  }

  /** One Extend node: a child JVM. */
  static final class Node {
    final int index;
    final String id;
    final Process process;
    final Path dataDir;
    final Path log;
    volatile int port;

    Node(int index, String id, Process process, Path dataDir, Path log) {
      this.index = index;
      this.id = id;
      this.process = process;
      this.dataDir = dataDir;
      this.log = log;
    }

    /** The node's own base URL (bypassing nginx). */
    URI url() {
      return URI.create("http://127.0.0.1:" + port);
    }

    /** Whether {@code pid} is one of this node's processes (a sandbox, say). */
    boolean owns(long pid) {
      return process.isAlive() && process.descendants().anyMatch(p -> p.pid() == pid);
    }

    @Override
    public String toString() {
      return id + "@" + port;
    }
  }

  /** One private nginx. */
  static final class Nginx {
    final String name;
    final Process process;
    final Path dir;
    final int port;

    Nginx(String name, Process process, Path dir, int port) {
      this.name = name;
      this.process = process;
      this.dir = dir;
      this.port = port;
    }

    URI url() {
      return URI.create("http://127.0.0.1:" + port);
    }
  }

  /** Starts nodes 1..count at once (on a fresh database they take turns on the migration lock) and waits until all are ready. */
  List<Node> startNodes(int count, Duration timeout) throws IOException, InterruptedException {
    List<Node> started = new ArrayList<>();
    for (int i = 1; i <= count; i++) {
      started.add(launch(i));
    }
    long deadline = System.nanoTime() + timeout.toNanos();
    for (Node n : started) {
      awaitReady(n, deadline);
    }
    return started;
  }

  private Node launch(int index) throws IOException {
    String id = "node-" + index;
    Path data = Files.createDirectories(work.resolve(id));
    Path log = work.resolve(id + ".log");
    ProcessBuilder pb = new ProcessBuilder(
        Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-Xms64m", "-Xmx512m", "-jar", serverJar.toString());
    pb.directory(data.toFile());
    pb.redirectErrorStream(true);
    pb.redirectOutput(log.toFile());
    Map<String, String> env = pb.environment();
    env.keySet().removeIf(k -> k.startsWith("EXTEND_"));
    env.putAll(sharedEnv);
    env.put("EXTEND_NODE_ID", id);
    env.put("EXTEND_DATA_DIR", data.toString());
    env.put("EXTEND_HOST", "127.0.0.1");
    env.put("EXTEND_PORT", "0");
    Node node = new Node(index, id, pb.start(), data, log);
    nodes.add(node);
    return node;
  }

  private static void awaitReady(Node n, long deadline) throws IOException, InterruptedException {
    while (System.nanoTime() < deadline) {
      String out = Files.readString(n.log, StandardCharsets.UTF_8);
      Matcher m = READY.matcher(out);
      if (m.find()) {
        n.port = Integer.parseInt(m.group(1));
        return;
      }
      if (!n.process.isAlive()) {
        throw new IllegalStateException(n.id + " exited with status " + n.process.exitValue() + ":\n" + tail(n.log));
      }
      Thread.sleep(100);
    }
    throw new IllegalStateException(n.id + " not ready in time:\n" + tail(n.log));
  }

  /**
   * Renders the nginx configuration with {@code render-nginx.sh} for the given nodes and starts
   * a private nginx on a free loopback port.
   */
  Nginx startNginx(String name, boolean roundRobin, List<Node> upstreams) throws IOException, InterruptedException {
    Path dir = Files.createDirectories(work.resolve("nginx-" + name));
    Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
    Files.createDirectories(dir.resolve("logs"));
    Files.createDirectories(dir.resolve("temp"));
    IOException last = null;
    for (int attempt = 0; attempt < 3; attempt++) {
      int port = freePort();
      List<String> render = new ArrayList<>(List.of("bash", multiNodeDir.resolve("render-nginx.sh").toString()));
      if (roundRobin) {
        render.add("--round-robin");
      }
      render.add("127.0.0.1:" + port);
      upstreams.forEach(n -> render.add("127.0.0.1:" + n.port));
      Path conf = dir.resolve("nginx.conf");
      Process r = new ProcessBuilder(render).redirectErrorStream(true).redirectOutput(conf.toFile()).start();
      if (!r.waitFor(10, TimeUnit.SECONDS) || r.exitValue() != 0) {
        throw new IllegalStateException("render-nginx.sh failed: " + Files.readString(conf));
      }
      Path out = dir.resolve("nginx.out");
      Process p = new ProcessBuilder(nginxBinary(), "-p", dir.toString(), "-c", conf.toString(),
          "-g", "daemon off; pid " + dir.resolve("nginx.pid") + ";")
          .redirectErrorStream(true).redirectOutput(out.toFile()).start();
      Nginx nginx = new Nginx(name, p, dir, port);
      nginxes.add(nginx);
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
      while (System.nanoTime() < deadline && p.isAlive()) {
        if (accepts(port)) {
          return nginx;
        }
        Thread.sleep(50);
      }
      last = new IOException("nginx " + name + " did not start: " + Files.readString(out)
          + readIfExists(dir.resolve("logs/error.log")));
      stop(nginx);
      nginxes.remove(nginx);
      if (!Files.readString(out).contains("Address already in use")
          && !readIfExists(dir.resolve("logs/error.log")).contains("Address already in use")) {
        break;
      }
    }
    throw last;
  }

  /** The nginx executable: on the PATH or in /usr/sbin (null when absent). */
  static String nginxBinary() {
    List<String> dirs = new ArrayList<>(List.of(System.getenv().getOrDefault("PATH", "").split(":")));
    dirs.addAll(List.of("/usr/sbin", "/usr/local/sbin", "/sbin"));
    for (String d : dirs) {
      if (!d.isEmpty() && Files.isExecutable(Path.of(d, "nginx"))) {
        return Path.of(d, "nginx").toString();
      }
    }
    return null;
  }

  /**
   * Kills a node at once (SIGKILL), then the sandboxes it left, as when its host dies.
   *
   * @return {@link System#nanoTime()} just before the kill
   */
  long kill(Node n) throws InterruptedException {
    List<ProcessHandle> children = n.process.descendants().toList();
    long at = System.nanoTime();
    n.process.destroyForcibly();
    n.process.waitFor(10, TimeUnit.SECONDS);
    for (ProcessHandle c : children) {
      c.destroyForcibly();
    }
    orphans.addAll(children);
    return at;
  }

  /** Copies the logs of every process to {@code dir}, for a look after a failure. */
  void keepLogs(Path dir) {
    try {
      Files.createDirectories(dir);
      for (Node n : nodes) {
        copy(n.log, dir.resolve(n.id + ".log"));
      }
      for (Nginx x : nginxes) {
        copy(x.dir.resolve("logs/error.log"), dir.resolve("nginx-" + x.name + "-error.log"));
        copy(x.dir.resolve("nginx.conf"), dir.resolve("nginx-" + x.name + ".conf"));
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static void copy(Path from, Path to) throws IOException {
    if (Files.exists(from)) {
      Files.copy(from, to, StandardCopyOption.REPLACE_EXISTING);
    }
  }

  /** Stops every nginx and node started here (gracefully, then by force) and whatever they left. */
  @Override
  public void close() {
    try {
      Runtime.getRuntime().removeShutdownHook(onExit);
    } catch (IllegalStateException e) {
      // the JVM is already exiting: the hook runs stopAll
    }
    stopAll();
  }

  private void stopAll() {
    for (Nginx x : nginxes) {
      stop(x);
    }
    List<ProcessHandle> children = new ArrayList<>(orphans);
    for (Node n : nodes) {
      children.addAll(n.process.descendants().toList());
      n.process.destroy();
    }
    for (Node n : nodes) {
      try {
        if (!n.process.waitFor(20, TimeUnit.SECONDS)) {
          n.process.destroyForcibly();
          n.process.waitFor(5, TimeUnit.SECONDS);
        }
      } catch (InterruptedException e) {
        n.process.destroyForcibly();
        Thread.currentThread().interrupt();
      }
    }
    for (ProcessHandle c : children) {
      if (c.isAlive()) {
        c.destroyForcibly();
      }
    }
  }

  private static void stop(Nginx x) {
    List<ProcessHandle> workers = x.process.descendants().toList();
    x.process.destroy(); // SIGTERM: nginx's fast shutdown
    try {
      if (!x.process.waitFor(5, TimeUnit.SECONDS)) {
        x.process.destroyForcibly();
        x.process.waitFor(5, TimeUnit.SECONDS);
      }
    } catch (InterruptedException e) {
      x.process.destroyForcibly();
      Thread.currentThread().interrupt();
    }
    workers.stream().filter(ProcessHandle::isAlive).forEach(ProcessHandle::destroyForcibly);
  }

  /** The last lines of a log file. */
  static String tail(Path log) {
    try {
      List<String> lines = Files.readAllLines(log, StandardCharsets.UTF_8);
      return String.join("\n", lines.subList(Math.max(0, lines.size() - 40), lines.size()));
    } catch (IOException e) {
      return "(no log: " + e + ")";
    }
  }

  private static String readIfExists(Path p) throws IOException {
    return Files.exists(p) ? Files.readString(p) : "";
  }

  static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      return s.getLocalPort();
    }
  }

  static boolean accepts(int port) {
    try (Socket s = new Socket()) {
      s.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 500);
      return true;
    } catch (IOException e) {
      return false;
    }
  }

}
