package dev.extend;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** What one container may make the platform store and build is bounded, with clear answers. */
class ContainerQuotaTest {
  @TempDir
  Path data;
  ServerlessPlatform platform;

  @AfterEach
  void stop() {
    if (platform != null) {
      platform.close();
    }
  }

  @Test
  void aContainerCannotStoreMoreWebhooksThanItsCap() {
    platform = PlatformTestSupport.builder(data).poolSize(0).maxWebhooksPerContainer(3).build();
    for (int i = 0; i < 3; i++) {
      platform.put(WebhookRef.of("hoarder", "w" + i), WebhookSpec.builder("module.exports = async () => 1").build());
    }
    assertThatThrownBy(() -> platform.put(WebhookRef.of("hoarder", "w3"),
        WebhookSpec.builder("module.exports = async () => 1").build()))
        .isInstanceOf(ConflictException.class).hasMessageContaining("maxWebhooksPerContainer");
    assertThat(platform.get(WebhookRef.of("hoarder", "w3"))).isEmpty();
    // Updates of existing ones, and other containers, are not affected.
    platform.put(WebhookRef.of("hoarder", "w0"), WebhookSpec.builder("module.exports = async () => 2").build());
    platform.put(WebhookRef.of("neighbour", "w0"), WebhookSpec.builder("module.exports = async () => 1").build());
  }

  /** A cap above one page of the store's listing still counts (the store counts, it does not list). */
  @Test
  void aCapAboveOnePageOfListingWorks() {
    platform = PlatformTestSupport.builder(data).poolSize(0).maxWebhooksPerContainer(5000).build();
    platform.put(WebhookRef.of("roomy", "w0"), WebhookSpec.builder("module.exports = async () => 1").build());
    assertThat(platform.get(WebhookRef.of("roomy", "w0"))).isPresent();
  }

  @Test
  void aContainerCannotQueueMoreBuildsThanItsCap() {
    platform = PlatformTestSupport.builder(data).poolSize(0).buildWorkers(0).maxDependencies(2)
        .maxQueuedBuildsPerContainer(3).build();
    platform.put(WebhookRef.of("builder", "a"), WebhookSpec.builder("module.exports = 1")
        .dependency("left-pad", "1.0.0").dependency("left-pad-two", "1.0.0").build());
    assertThatThrownBy(() -> platform.put(WebhookRef.of("builder", "b"), WebhookSpec.builder("module.exports = 1")
        .dependency("right-pad", "1.0.0").dependency("right-pad-two", "1.0.0").build()))
        .isInstanceOf(TooManyRequestsException.class).hasMessageContaining("maxQueuedBuildsPerContainer");
    assertThat(platform.get(WebhookRef.of("builder", "b"))).as("nothing half-stored").isEmpty();
    // Modules already asked for cost nothing more, and another container has its own budget.
    platform.put(WebhookRef.of("builder", "c"), WebhookSpec.builder("module.exports = 1")
        .dependency("left-pad", "1.0.0").build());
    platform.put(WebhookRef.of("other", "b"), WebhookSpec.builder("module.exports = 1")
        .dependency("right-pad", "1.0.0").dependency("right-pad-two", "1.0.0").build());
  }
}
