package dev.extend.containerd;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Follows the output files the shim appends a task's stdout and stderr to, and hands new lines
 * to their consumers. One thread polls every file, so many sandboxes cost no thread each.
 *
 * <p>Once a file has grown past the cap, its consumer gets one note and nothing more, and the
 * file is cut back to zero on every poll so a chatty tenant cannot fill the disk.
 */
final class OutputTailer implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(OutputTailer.class);
  private static final int MAX_LINE = 16 * 1024;

  private final ScheduledExecutorService poller;
  private final Map<Path, Tail> tails = new ConcurrentHashMap<>();
  private final long capBytes;

  OutputTailer(long capBytes, long pollMillis) {
    this.capBytes = capBytes;
    this.poller = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "extend-containerd-output");
      t.setDaemon(true);
      return t;
    });
    poller.scheduleWithFixedDelay(this::pollAll, pollMillis, pollMillis, TimeUnit.MILLISECONDS);
  }

  /** Starts following {@code file}. */
  void follow(Path file, Consumer<String> output) {
    tails.put(file, new Tail(file, output));
  }

  /** Reads what is left, passes a last unterminated line on, and stops following. */
  void finish(Path file) {
    Tail t = tails.remove(file);
    if (t != null) {
      synchronized (t) {
        t.poll(capBytes);
        t.flushPartial();
        t.close();
      }
    }
  }

  private void pollAll() {
    for (Tail t : tails.values()) {
      synchronized (t) {
        try {
          t.poll(capBytes);
        } catch (RuntimeException e) {
          LOG.warn("reading {} failed", t.file, e);
        }
      }
    }
  }

  @Override
  public void close() {
    poller.shutdownNow();
    tails.values().forEach(Tail::close);
    tails.clear();
  }

  private static final class Tail {
    final Path file;
    final Consumer<String> output;
    final ByteArrayOutputStream partial = new ByteArrayOutputStream();
    final ByteBuffer buffer = ByteBuffer.allocate(64 * 1024);
    FileChannel channel;
    long position;
    boolean capped;

    Tail(Path file, Consumer<String> output) {
      this.file = file;
      this.output = output;
    }

    void poll(long capBytes) {
      try {
        if (channel == null) {
          try {
            channel = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE);
          } catch (NoSuchFileException notYet) {
            return;
          }
        }
        if (capped) {
          channel.truncate(0);
          return;
        }
        while (true) {
          buffer.clear();
          int n = channel.read(buffer, position);
          if (n <= 0) {
            break;
          }
          buffer.flip();
          while (buffer.hasRemaining()) {
            byte b = buffer.get();
            if (++position > capBytes) {
              // What is cut off mid-line is dropped with the rest.
              partial.reset();
              deliver("[extend] output exceeded " + capBytes + " bytes; further output is dropped");
              capped = true;
              channel.truncate(0);
              return;
            }
            if (b == '\n') {
              emit();
            } else if (partial.size() < MAX_LINE) {
              partial.write(b);
            }
          }
        }
      } catch (IOException e) {
        LOG.debug("reading {} failed", file, e);
      }
    }

    void flushPartial() {
      if (partial.size() > 0) {
        emit();
      }
    }

    private void emit() {
      String line = partial.toString(StandardCharsets.UTF_8);
      partial.reset();
      if (line.endsWith("\r")) {
        line = line.substring(0, line.length() - 1);
      }
      deliver(line);
    }

    private void deliver(String line) {
      try {
        output.accept(line);
      } catch (RuntimeException e) {
        LOG.warn("output consumer of {} threw", file, e);
      }
    }

    void close() {
      if (channel != null) {
        try {
          channel.close();
        } catch (IOException ignored) {
          // nothing left to do with it
        }
      }
    }
  }
}
