package dev.extend.bench;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A slow-body flood against a server on 127.0.0.1: {@code connections} connections at once, each
 * a POST to a webhook whose body comes one byte every half second (half chunked, half with a
 * large Content-Length). A connection the server answers or closes is opened again at once, so
 * the flood holds its size for its whole length. One thread drives every connection.
 */
final class SlowBodyFlood implements AutoCloseable {
  private final int port;
  private final String path;
  private final int connections;
  private final AtomicBoolean running = new AtomicBoolean(true);
  private final AtomicLong opened = new AtomicLong();
  private final AtomicLong cut = new AtomicLong();
  private final AtomicLong answered408 = new AtomicLong();
  private final Thread thread;
  private volatile Throwable failure;

  private SlowBodyFlood(int port, String path, int connections) {
    this.port = port;
    this.path = path;
    this.connections = connections;
    this.thread = new Thread(this::run, "bench-slow-body-flood");
    this.thread.setDaemon(true);
  }

  /** Starts the flood and returns once every connection is open. */
  static SlowBodyFlood start(int port, String path, int connections) throws InterruptedException {
    SlowBodyFlood f = new SlowBodyFlood(port, path, connections);
    f.thread.start();
    long until = System.nanoTime() + 60_000_000_000L;
    while (f.opened.get() < connections && f.failure == null && System.nanoTime() < until) {
      Thread.sleep(20);
    }
    if (f.failure != null) {
      throw new IllegalStateException("the flood could not open its connections", f.failure);
    }
    return f;
  }

  /** Connections opened so far (the first {@code connections} and every re-opening). */
  long opened() {
    return opened.get();
  }

  /** Requests the server cut (answered or closed) so far. */
  long cut() {
    return cut.get();
  }

  /** Of those, the ones answered 408. */
  long answered408() {
    return answered408.get();
  }

  private final class Conn {
    final Socket socket;
    final OutputStream out;
    final InputStream in;
    final boolean chunked;

    Conn(boolean chunked) throws IOException {
      this.chunked = chunked;
      socket = new Socket();
      socket.connect(new InetSocketAddress("127.0.0.1", port), 10_000);
      out = socket.getOutputStream();
      in = socket.getInputStream();
      out.write(("POST " + path + " HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
          + (chunked ? "Transfer-Encoding: chunked\r\n" : "Content-Length: 1000000\r\n") + "\r\n")
          .getBytes(StandardCharsets.ISO_8859_1));
      out.flush();
      opened.incrementAndGet();
    }

    boolean tick() {
      try {
        if (in.available() > 0) {
          return false;
        }
        out.write(chunked ? "1\r\n \r\n".getBytes(StandardCharsets.ISO_8859_1) : new byte[] {' '});
        out.flush();
        return true;
      } catch (IOException e) {
        return false;
      }
    }

    void finish() {
      try {
        socket.setSoTimeout(100);
        byte[] b = in.readNBytes(12);
        if (new String(b, StandardCharsets.ISO_8859_1).equals("HTTP/1.1 408")) {
          answered408.incrementAndGet();
        }
      } catch (IOException e) {
        // closed without an answer
      }
      try {
        socket.close();
      } catch (IOException e) {
        // gone
      }
    }
  }

  private void run() {
    List<Conn> live = new ArrayList<>(connections);
    try {
      while (live.size() < connections && running.get()) {
        live.add(new Conn(live.size() % 2 == 0));
      }
      while (running.get()) {
        for (int i = 0; i < live.size() && running.get(); i++) {
          Conn c = live.get(i);
          if (!c.tick()) {
            cut.incrementAndGet();
            c.finish();
            live.set(i, new Conn(c.chunked));
          }
        }
        Thread.sleep(500);
      }
    } catch (IOException | InterruptedException | RuntimeException e) {
      failure = e;
    } finally {
      for (Conn c : live) {
        try {
          c.socket.close();
        } catch (IOException e) {
          // gone
        }
      }
    }
  }

  @Override
  public void close() throws InterruptedException {
    running.set(false);
    thread.join(30_000);
    if (failure != null) {
      throw new IllegalStateException("the flood failed", failure);
    }
  }
}
