package dev.extend.internal;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import com.github.benmanes.caffeine.cache.Ticker;
import dev.extend.ContainerName;
import dev.extend.LogEvent;
import dev.extend.LogListener;
import dev.extend.UnavailableException;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Fans webhooks' console output out to listeners, keeping the last lines of each container.
 *
 * <p>Everything it keeps is bounded: per container at most the configured number of lines and
 * {@link #REPLAY_BYTES} characters of replay, and at most {@link #MAX_SUBSCRIBERS} subscribers;
 * replay for at most {@link #MAX_CONTAINERS} containers, the least recently active dropped
 * first, and a container's replay is dropped after {@link #REPLAY_IDLE} without a line (or when
 * the container is deleted). A container's subscriber list goes with its last subscriber.
 */
public final class LogHub {
  private static final Logger LOG = LoggerFactory.getLogger(LogHub.class);
  /** Characters of replay kept per container (a line may be up to 16 Ki characters). */
  static final int REPLAY_BYTES = 128 * 1024;
  /** Containers whose replay is kept. */
  static final int MAX_CONTAINERS = 1024;
  /** A container's replay is dropped after this long without a line. */
  static final Duration REPLAY_IDLE = Duration.ofHours(1);
  /** Subscribers per container. */
  static final int MAX_SUBSCRIBERS = 256;

  /** The replay of one container: its last lines, oldest first. */
  private static final class Replay {
    final ArrayDeque<LogEvent> lines = new ArrayDeque<>();
    long chars;
  }

  private final int replay;
  private final List<LogListener> global;
  private final Cache<ContainerName, Replay> recent;
  private final Map<ContainerName, CopyOnWriteArrayList<LogListener>> subscribers = new ConcurrentHashMap<>();

  /** A hub keeping {@code replay} lines per container. */
  public LogHub(int replay, List<LogListener> global) {
    this(replay, global, MAX_CONTAINERS, REPLAY_IDLE, Ticker.systemTicker());
  }

  LogHub(int replay, List<LogListener> global, int maxContainers, Duration idle, Ticker ticker) {
    this.replay = replay;
    this.global = List.copyOf(global);
    this.recent = Caffeine.newBuilder()
        .maximumSize(maxContainers)
        .expireAfterAccess(idle)
        .ticker(ticker)
        .executor(Runnable::run)
        .build();
  }

  /** Publishes one line. */
  public void publish(LogEvent e) {
    if (replay > 0) {
      Replay r = recent.get(e.container(), k -> new Replay());
      synchronized (r) {
        r.lines.addLast(e);
        r.chars += weight(e);
        while (r.lines.size() > replay || (r.chars > REPLAY_BYTES && r.lines.size() > 1)) {
          r.chars -= weight(r.lines.pollFirst());
        }
      }
    }
    for (LogListener l : global) {
      deliver(l, e);
    }
    List<LogListener> subs = subscribers.get(e.container());
    if (subs != null) {
      for (LogListener l : subs) {
        deliver(l, e);
      }
    }
  }

  private static long weight(LogEvent e) {
    return 64 + (e.message() == null ? 0 : e.message().length());
  }

  private static void deliver(LogListener l, LogEvent e) {
    try {
      l.onLog(e);
    } catch (RuntimeException ex) {
      LOG.warn("log listener failed: {}", ex.toString());
    }
  }

  /**
   * Subscribes to a container's output.
   *
   * @throws UnavailableException when the container has {@link #MAX_SUBSCRIBERS} already
   */
  public AutoCloseable subscribe(ContainerName container, LogListener listener) {
    subscribers.compute(container, (k, subs) -> {
      CopyOnWriteArrayList<LogListener> list = subs == null ? new CopyOnWriteArrayList<>() : subs;
      if (list.size() >= MAX_SUBSCRIBERS) {
        throw new UnavailableException("container " + container + " has " + MAX_SUBSCRIBERS
            + " log subscribers already; retry later");
      }
      list.add(listener);
      return list;
    });
    return () -> subscribers.computeIfPresent(container, (k, subs) -> {
      subs.remove(listener);
      return subs.isEmpty() ? null : subs;
    });
  }

  /** Drops a container's replay and ends its subscriptions (each listener's {@code onClose}). */
  public void forget(ContainerName container) {
    recent.invalidate(container);
    List<LogListener> subs = subscribers.remove(container);
    if (subs != null) {
      for (LogListener l : subs) {
        try {
          l.onClose();
        } catch (RuntimeException ex) {
          LOG.warn("log listener failed on close: {}", ex.toString());
        }
      }
    }
  }

  /** The last {@code max} lines of a container, oldest first. */
  public List<LogEvent> recent(ContainerName container, int max) {
    Replay r = recent.getIfPresent(container);
    if (r == null) {
      return List.of();
    }
    synchronized (r) {
      List<LogEvent> all = new ArrayList<>(r.lines);
      return all.subList(Math.max(0, all.size() - max), all.size());
    }
  }

  /** Containers whose replay is kept (for tests). */
  long containersKept() {
    recent.cleanUp();
    return recent.estimatedSize();
  }

  /** Containers with subscribers (for tests). */
  int subscribedContainers() {
    return subscribers.size();
  }
}
