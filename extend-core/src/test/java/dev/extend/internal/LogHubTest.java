package dev.extend.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.extend.ContainerName;
import dev.extend.LogEvent;
import dev.extend.LogListener;
import dev.extend.UnavailableException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** What the log hub keeps is bounded per container and in all, and goes when a container is gone or idle. */
class LogHubTest {
  private static LogEvent line(String container, String message) {
    return new LogEvent(Instant.now(), ContainerName.of(container), "hook", "i1", "log", message);
  }

  @Test
  void replayIsBoundedByLinesAndBySize() {
    LogHub hub = new LogHub(200, List.of());
    for (int i = 0; i < 1000; i++) {
      hub.publish(line("acme", "line " + i));
    }
    List<LogEvent> kept = hub.recent(ContainerName.of("acme"), 10_000);
    assertThat(kept).hasSize(200);
    assertThat(kept.get(199).message()).isEqualTo("line 999");
    // long lines: the size bound wins over the line count
    String big = "x".repeat(16 * 1024);
    for (int i = 0; i < 200; i++) {
      hub.publish(line("big", big));
    }
    long chars = hub.recent(ContainerName.of("big"), 10_000).stream().mapToLong(e -> e.message().length()).sum();
    assertThat(chars).isLessThanOrEqualTo(LogHub.REPLAY_BYTES);
    assertThat(hub.recent(ContainerName.of("big"), 10_000)).isNotEmpty();
  }

  @Test
  void replayIsKeptForABoundedNumberOfContainersAndDroppedWhenIdle() {
    AtomicLong now = new AtomicLong();
    LogHub hub = new LogHub(10, List.of(), 50, Duration.ofMinutes(60), now::get);
    for (int i = 0; i < 500; i++) {
      hub.publish(line("c" + i, "hello"));
    }
    assertThat(hub.containersKept()).isLessThanOrEqualTo(50);
    assertThat(hub.recent(ContainerName.of("c499"), 10)).hasSize(1);
    now.addAndGet(Duration.ofMinutes(61).toNanos());
    assertThat(hub.recent(ContainerName.of("c499"), 10)).isEmpty();
    assertThat(hub.containersKept()).isZero();
  }

  @Test
  void subscribersAreBoundedAndTheirEntryGoesWithTheLast() throws Exception {
    LogHub hub = new LogHub(10, List.of());
    List<AutoCloseable> subs = new ArrayList<>();
    for (int i = 0; i < LogHub.MAX_SUBSCRIBERS; i++) {
      subs.add(hub.subscribe(ContainerName.of("acme"), e -> { }));
    }
    assertThatThrownBy(() -> hub.subscribe(ContainerName.of("acme"), e -> { }))
        .isInstanceOf(UnavailableException.class);
    // another container is not affected
    AutoCloseable other = hub.subscribe(ContainerName.of("other"), e -> { });
    for (AutoCloseable s : subs) {
      s.close();
    }
    other.close();
    assertThat(hub.subscribedContainers()).isZero();
  }

  @Test
  void forgettingAContainerDropsItsReplayAndClosesItsSubscribers() {
    LogHub hub = new LogHub(10, List.of());
    AtomicInteger lines = new AtomicInteger();
    AtomicInteger closed = new AtomicInteger();
    hub.subscribe(ContainerName.of("acme"), new LogListener() {
      @Override
      public void onLog(LogEvent event) {
        lines.incrementAndGet();
      }

      @Override
      public void onClose() {
        closed.incrementAndGet();
      }
    });
    hub.publish(line("acme", "before"));
    hub.forget(ContainerName.of("acme"));
    hub.publish(line("acme", "after"));
    assertThat(lines.get()).isEqualTo(1);
    assertThat(closed.get()).isEqualTo(1);
    assertThat(hub.recent(ContainerName.of("acme"), 10)).extracting(LogEvent::message).containsExactly("after");
    assertThat(hub.subscribedContainers()).isZero();
  }
}
