package dev.extend;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Each limit is optional: one left out takes the platform's default at write time, the webhook
 * stores it, and reads show the values in effect.
 */
class OptionalLimitsTest {
  @TempDir static Path data;
  static ServerlessPlatform platform;
  static final Limits DEFAULTS = new Limits(Duration.ofSeconds(20), 192);

  @BeforeAll
  static void start() {
    platform = PlatformTestSupport.builder(data).poolSize(0).defaultLimits(DEFAULTS)
        .maxLimits(new Limits(Duration.ofSeconds(60), 512)).build();
  }

  @AfterAll
  static void stop() {
    platform.close();
  }

  private static Limits written(String name, WebhookSpec spec) {
    WebhookRef ref = WebhookRef.of("limits", name);
    Limits answered = platform.put(ref, spec).webhook().limits();
    assertThat(platform.get(ref).orElseThrow().limits()).as("read back").isEqualTo(answered);
    return answered;
  }

  @Test
  void timeoutOnlyTakesTheDefaultMemory() {
    assertThat(written("t", WebhookSpec.builder("x").limits(Limits.ofTimeout(Duration.ofMillis(1500))).build()))
        .isEqualTo(new Limits(Duration.ofMillis(1500), 192));
    assertThat(written("t2", WebhookSpec.builder("x").timeout(Duration.ofMillis(1500)).build()))
        .isEqualTo(new Limits(Duration.ofMillis(1500), 192));
  }

  @Test
  void memoryOnlyTakesTheDefaultTimeout() {
    assertThat(written("m", WebhookSpec.builder("x").limits(Limits.ofMemoryMb(384)).build()))
        .isEqualTo(new Limits(Duration.ofSeconds(20), 384));
    assertThat(written("m2", WebhookSpec.builder("x").memoryMb(384).build()).timeoutMs()).isEqualTo(20_000L);
  }

  @Test
  void bothAndEmptyAndNone() {
    assertThat(written("both", WebhookSpec.builder("x").timeout(Duration.ofSeconds(2)).memoryMb(64).build()))
        .isEqualTo(new Limits(Duration.ofSeconds(2), 64));
    assertThat(written("empty", WebhookSpec.builder("x").limits(new Limits(null, null)).build())).isEqualTo(DEFAULTS);
    assertThat(written("none", WebhookSpec.builder("x").build())).isEqualTo(DEFAULTS);
  }

  @Test
  void aLimitGivenIsStillCheckedAndNamed() {
    assertThatThrownBy(() -> Limits.ofMemoryMb(8)).isInstanceOf(ValidationException.class)
        .hasMessageStartingWith("limits.memoryMb:");
    assertThatThrownBy(() -> Limits.ofTimeout(Duration.ZERO)).isInstanceOf(ValidationException.class)
        .hasMessageStartingWith("limits.timeoutMs:");
    // below a millisecond would be a deadline of 0
    assertThatThrownBy(() -> Limits.ofTimeout(Duration.ofNanos(10))).hasMessageStartingWith("limits.timeoutMs:");
    WebhookRef ref = WebhookRef.of("limits", "refused");
    assertThatThrownBy(() -> platform.put(ref, WebhookSpec.builder("x").memoryMb(513).build()))
        .isInstanceOfSatisfying(ValidationException.class, e -> {
          assertThat(e.field()).isEqualTo("limits.memoryMb");
          assertThat(e.getMessage()).contains("513", "512");
        });
    assertThatThrownBy(() -> platform.put(ref, WebhookSpec.builder("x").timeout(Duration.ofSeconds(61)).build()))
        .isInstanceOfSatisfying(ValidationException.class, e -> assertThat(e.field()).isEqualTo("limits.timeoutMs"));
    assertThat(platform.get(ref)).isEmpty();
  }

  /** As with Lambda: the value resolved at write time is stored; a later default moves nothing. */
  @Test
  void aStoredWebhookKeepsTheDefaultOfItsWriteTime(@TempDir Path other) {
    var store = dev.extend.spi.FunctionStore.inMemory();
    WebhookRef ref = WebhookRef.of("limits", "kept");
    try (ServerlessPlatform before = PlatformTestSupport.builder(other.resolve("a")).functionStore(store).poolSize(0)
        .defaultLimits(DEFAULTS).build()) {
      before.put(ref, WebhookSpec.builder("x").timeout(Duration.ofSeconds(3)).build());
    }
    try (ServerlessPlatform after = PlatformTestSupport.builder(other.resolve("b")).functionStore(store).poolSize(0)
        .defaultLimits(Limits.ofMemoryMb(128)).build()) {
      assertThat(after.get(ref).orElseThrow().limits()).isEqualTo(new Limits(Duration.ofSeconds(3), 192));
      // written again without the memory limit, it takes the default of that time (a put replaces the spec)
      assertThat(after.put(ref, WebhookSpec.builder("x").timeout(Duration.ofSeconds(3)).build()).webhook().limits())
          .isEqualTo(new Limits(Duration.ofSeconds(3), 128));
    }
  }

  @Test
  void aPartialBuilderDefaultKeepsTheBuiltInOther(@TempDir Path other) {
    try (ServerlessPlatform p = PlatformTestSupport.builder(other).poolSize(0).defaultLimits(Limits.ofTimeout(Duration.ofSeconds(5)))
        .build()) {
      assertThat(p.put(WebhookRef.of("limits", "d"), WebhookSpec.builder("x").build()).webhook().limits())
          .isEqualTo(new Limits(Duration.ofSeconds(5), 256));
    }
  }

  /** The timeout given alone is the one invocations get, not the default's 20 s. */
  @Test
  void theTimeoutGivenAloneIsInEffect() {
    WebhookRef ref = WebhookRef.of("limits", "hang");
    platform.put(ref, WebhookSpec.builder("module.exports = async (ctx) => new Promise(() => {})")
        .timeout(Duration.ofMillis(1500)).build());
    assertThatThrownBy(() -> platform.invoke(ref, InvocationRequest.get())).isInstanceOf(FunctionTimeoutException.class)
        .hasMessageContaining("1500 ms");
  }
}
