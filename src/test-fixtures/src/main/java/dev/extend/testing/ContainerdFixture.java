package dev.extend.testing;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;

/**
 * A containerd daemon for tests. {@link #start()} uses the daemon named by {@code
 * EXTEND_CONTAINERD_SOCKET} when it answers, else starts a private one: {@code containerd
 * --config <tmp>/config.toml --root <tmp>/root --state <tmp>/state --address <tmp>/c.sock} with
 * its own gRPC, ttrpc and debug addresses and the CRI plugin disabled, so it never collides
 * with a system daemon. {@link #close()} stops what it started and removes its files.
 *
 * <p>Without the {@code containerd} binary or root, tests are skipped; with {@code CI=true}
 * they fail instead.
 */
public final class ContainerdFixture implements AutoCloseable {
  private final Path socket;
  private Process daemon;
  private final Path dir;
  /** The daemon's binary, for restarts (a stopped process no longer tells it). */
  private String binary;

  private ContainerdFixture(Path socket, Process daemon, Path dir) {
    this.socket = socket;
    this.daemon = daemon;
    this.dir = dir;
  }

  /** containerd's gRPC socket. */
  public Path socket() {
    return socket;
  }

  /** Whether this fixture started the daemon (and will stop it). */
  public boolean privateDaemon() {
    return daemon != null;
  }

  /** Connects to a running daemon or starts a private one; skips (fails under CI) when neither can be had. */
  public static ContainerdFixture start() throws IOException, InterruptedException {
    String env = System.getenv("EXTEND_CONTAINERD_SOCKET");
    if (env != null && !env.isBlank() && answers(Path.of(env))) {
      return new ContainerdFixture(Path.of(env), null, null);
    }
    Path binary = findOnPath("containerd");
    require(binary != null, "no containerd binary on PATH");
    require("root".equals(System.getProperty("user.name")), "containerd needs root");
    // Short path: Unix socket addresses are limited to 108 bytes.
    Path dir = Files.createTempDirectory(Path.of("/tmp"), "ectd-");
    Path sock = dir.resolve("c.sock");
    Files.writeString(dir.resolve("config.toml"), String.join("\n",
        "version = 2",
        "root = \"" + dir.resolve("root") + "\"",
        "state = \"" + dir.resolve("state") + "\"",
        "disabled_plugins = [\"io.containerd.grpc.v1.cri\", \"io.containerd.snapshotter.v1.btrfs\",",
        "  \"io.containerd.snapshotter.v1.zfs\", \"io.containerd.snapshotter.v1.aufs\",",
        "  \"io.containerd.snapshotter.v1.devmapper\"]",
        "[grpc]",
        "  address = \"" + sock + "\"",
        "[ttrpc]",
        "  address = \"" + sock + ".ttrpc\"",
        "[debug]",
        "  address = \"" + dir.resolve("debug.sock") + "\"",
        "[metrics]",
        "  address = \"\"",
        "[plugins.\"io.containerd.internal.v1.opt\"]",
        "  path = \"" + dir.resolve("opt") + "\"",
        ""));
    Process p = new ProcessBuilder(binary.toString(), "--config", dir.resolve("config.toml").toString(),
        "--root", dir.resolve("root").toString(), "--state", dir.resolve("state").toString(),
        "--address", sock.toString())
        .redirectErrorStream(true)
        .redirectOutput(dir.resolve("containerd.log").toFile())
        .start();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (!answers(sock)) {
      if (!p.isAlive() || System.nanoTime() > deadline) {
        p.destroyForcibly();
        String log = Files.exists(dir.resolve("containerd.log")) ? Files.readString(dir.resolve("containerd.log")) : "";
        throw new IllegalStateException("private containerd did not come up:\n" + tail(log));
      }
      Thread.sleep(20);
    }
    ContainerdFixture f = new ContainerdFixture(sock, p, dir);
    f.binary = binary.toString();
    return f;
  }

  /** Stops a private daemon (running shims stay), keeping its files for {@link #restart()}. */
  public void stop() throws InterruptedException {
    if (daemon == null) {
      throw new IllegalStateException("only a private daemon can be stopped");
    }
    stopDaemon();
  }

  /** Stops the daemon gracefully (it leaves running shims alone) and restarts it on the same socket. */
  public void restart() throws IOException, InterruptedException {
    if (daemon == null) {
      throw new IllegalStateException("only a private daemon can be restarted");
    }
    String binary = this.binary != null ? this.binary : daemon.info().command().orElseThrow();
    stopDaemon();
    Process p = new ProcessBuilder(binary, "--config",
        dir.resolve("config.toml").toString(), "--root", dir.resolve("root").toString(), "--state",
        dir.resolve("state").toString(), "--address", socket.toString())
        .redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.appendTo(dir.resolve("containerd.log").toFile()))
        .start();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (!answers(socket)) {
      if (!p.isAlive() || System.nanoTime() > deadline) {
        p.destroyForcibly();
        throw new IllegalStateException("containerd did not come back");
      }
      Thread.sleep(20);
    }
    daemon = p;
  }

  /** Whether something accepts connections on {@code socket}. */
  public static boolean answers(Path socket) {
    if (!Files.exists(socket)) {
      return false;
    }
    try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
      ch.connect(UnixDomainSocketAddress.of(socket));
      return true;
    } catch (IOException e) {
      return false;
    }
  }

  /** The daemon's log so far (private daemons only). */
  public String log() throws IOException {
    return dir == null ? "" : Files.readString(dir.resolve("containerd.log"));
  }

  /** Skips the calling test, or fails it when {@code CI=true}. */
  static void require(boolean condition, String why) {
    if ("true".equalsIgnoreCase(System.getenv("CI"))) {
      if (!condition) {
        throw new IllegalStateException(why + " (CI=true: a missing containerd is a failure)");
      }
    } else {
      Assumptions.assumeTrue(condition, why);
    }
  }

  private static Path findOnPath(String name) {
    String path = System.getenv().getOrDefault("PATH", "/usr/local/bin:/usr/bin:/bin");
    for (String d : List.of(path.split(":"))) {
      Path p = Path.of(d, name);
      if (Files.isExecutable(p)) {
        return p;
      }
    }
    for (String d : List.of("/usr/bin", "/usr/local/bin", "/usr/sbin")) {
      Path p = Path.of(d, name);
      if (Files.isExecutable(p)) {
        return p;
      }
    }
    return null;
  }

  private static String tail(String log) {
    return log.length() > 4000 ? log.substring(log.length() - 4000) : log;
  }

  private void stopDaemon() throws InterruptedException {
    daemon.destroy();
    if (!daemon.waitFor(15, TimeUnit.SECONDS)) {
      daemon.destroyForcibly();
      daemon.waitFor(5, TimeUnit.SECONDS);
    }
  }

  /** Stops a private daemon and removes its directory. */
  @Override
  public void close() throws InterruptedException {
    if (daemon == null) {
      return;
    }
    stopDaemon();
    TempDirs.delete(dir);
  }
}
