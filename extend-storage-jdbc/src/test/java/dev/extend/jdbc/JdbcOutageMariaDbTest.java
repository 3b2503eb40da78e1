package dev.extend.jdbc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.extend.Limits;
import dev.extend.ModuleRef;
import dev.extend.UnavailableException;
import dev.extend.WebhookRef;
import dev.extend.spi.WebhookRecord;
import java.io.ByteArrayInputStream;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import org.junit.jupiter.api.Test;

/**
 * A database outage on a private MariaDB server: calls fail with {@link UnavailableException}
 * within the connection timeout while the server is down, and succeed again once it is back,
 * with the same {@link JdbcStorage}.
 */
class JdbcOutageMariaDbTest {

  @Test
  void storesFailFastDuringAnOutageAndRecoverAfterwards() throws Exception {
    try (PrivateMariaDb server = PrivateMariaDb.start()) {
      server.createDatabase("extend");
      try (JdbcStorage storage = JdbcStorage.builder().jdbcUrl(server.url("extend")).user("root").password("")
          .poolSize(4).connectionTimeout(Duration.ofSeconds(2)).secretKeys(SecretKeyRing.generate("k"))
          .build()) {
        WebhookRef ref = WebhookRef.of("acme", "hook");
        WebhookRecord record = new WebhookRecord(ref, "code", List.of(), Map.of("K", "v"), Map.of(),
            new Limits(Duration.ofSeconds(5), 128), "node22", 0, null, null);
        storage.functionStore().put(record, OptionalLong.empty());
        storage.buildQueue().enqueue(new ModuleRef("lodash", "4.17.21"));

        server.kill();

        long start = System.nanoTime();
        assertThatThrownBy(() -> storage.functionStore().get(ref))
            .isInstanceOf(UnavailableException.class)
            .hasMessageContaining("jdbc:mysql://127.0.0.1:" + server.port() + "/extend");
        assertThatThrownBy(() -> storage.functionStore().put(record, OptionalLong.empty()))
            .isInstanceOf(UnavailableException.class);
        assertThatThrownBy(() -> storage.buildQueue().take("w", Duration.ofMinutes(1)))
            .isInstanceOf(UnavailableException.class);
        assertThatThrownBy(() -> storage.moduleStore().createIfAbsent(new ModuleRef("a", "1.0.0")))
            .isInstanceOf(UnavailableException.class);
        assertThatThrownBy(() -> storage.tokenStore().list()).isInstanceOf(UnavailableException.class);
        assertThatThrownBy(() -> storage.egressStore().revisions(List.of(ref.container())))
            .isInstanceOf(UnavailableException.class);
        assertThatThrownBy(() -> storage.egressStore().put(ref.container(), dev.extend.EgressPolicy.NONE))
            .isInstanceOf(UnavailableException.class);
        assertThatThrownBy(() -> storage.artifactStore().put(new ByteArrayInputStream(new byte[10]), 100))
            .isInstanceOf(UnavailableException.class);
        long elapsedMs = (System.nanoTime() - start) / 1_000_000;
        System.out.printf("eight calls during the outage failed in %d ms in total%n", elapsedMs);

        server.startServer();

        // The pool reconnects by itself; the first calls may still meet connections that died.
        awaitRecovery(() -> storage.functionStore().get(ref));
        assertThat(storage.functionStore().get(ref).orElseThrow().secrets()).isEqualTo(Map.of("K", "v"));
        assertThat(storage.functionStore().put(record, OptionalLong.of(1)).version()).isEqualTo(2);
        assertThat(storage.buildQueue().take("w", Duration.ofMinutes(1))).isPresent();
        assertThat(storage.tokenStore().list()).isEmpty();
        assertThat(storage.egressStore().get(ref.container())).isEmpty();
      }
    }
  }

  static void awaitRecovery(Runnable call) throws InterruptedException {
    UnavailableException last = null;
    for (int i = 0; i < 60; i++) {
      try {
        call.run();
        return;
      } catch (UnavailableException e) {
        last = e;
        Thread.sleep(500);
      }
    }
    throw new AssertionError("still unavailable 30 s after the database came back", last);
  }
}
