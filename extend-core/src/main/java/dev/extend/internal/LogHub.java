package dev.extend.internal;

import dev.extend.ContainerName;
import dev.extend.LogEvent;
import dev.extend.LogListener;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Fans webhooks' console output out to listeners, keeping the last lines of each container. */
public final class LogHub {
  private static final Logger LOG = LoggerFactory.getLogger(LogHub.class);

  private final int replay;
  private final List<LogListener> global;
  private final Map<ContainerName, ArrayDeque<LogEvent>> recent = new ConcurrentHashMap<>();
  private final Map<ContainerName, CopyOnWriteArrayList<LogListener>> subscribers = new ConcurrentHashMap<>();

  /** A hub keeping {@code replay} lines per container. */
  public LogHub(int replay, List<LogListener> global) {
    this.replay = replay;
    this.global = List.copyOf(global);
  }

  /** Publishes one line. */
  public void publish(LogEvent e) {
    if (replay > 0) {
      ArrayDeque<LogEvent> q = recent.computeIfAbsent(e.container(), k -> new ArrayDeque<>());
      synchronized (q) {
        q.addLast(e);
        while (q.size() > replay) {
          q.pollFirst();
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

  private static void deliver(LogListener l, LogEvent e) {
    try {
      l.onLog(e);
    } catch (RuntimeException ex) {
      LOG.warn("log listener failed: {}", ex.toString());
    }
  }

  /** Subscribes to a container's output. */
  public AutoCloseable subscribe(ContainerName container, LogListener listener) {
    subscribers.computeIfAbsent(container, k -> new CopyOnWriteArrayList<>()).add(listener);
    return () -> {
      List<LogListener> subs = subscribers.get(container);
      if (subs != null) {
        subs.remove(listener);
      }
    };
  }

  /** Drops a container's replay and ends its subscriptions (each listener's {@code onClose}). */
  public void forget(ContainerName container) {
    recent.remove(container);
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
    ArrayDeque<LogEvent> q = recent.get(container);
    if (q == null) {
      return List.of();
    }
    synchronized (q) {
      List<LogEvent> all = new ArrayList<>(q);
      return all.subList(Math.max(0, all.size() - max), all.size());
    }
  }
}
