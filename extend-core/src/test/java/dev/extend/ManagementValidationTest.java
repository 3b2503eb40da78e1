package dev.extend;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Each platform-side validation rule, and that nothing is stored when one fails. */
class ManagementValidationTest {
  @TempDir static Path data;
  static ServerlessPlatform platform;
  static final WebhookRef REF = WebhookRef.of("acme", "v");

  @BeforeAll
  static void start() {
    platform = PlatformTestSupport.builder(data).poolSize(0).maxCodeBytes(2048).maxDependencies(2)
        .maxSecrets(2, 16).maxMeta(2, 16).maxLimits(new Limits(Duration.ofSeconds(60), 512)).privateScope("@corp", "granted").build();
  }

  @AfterAll
  static void stop() {
    platform.close();
  }

  private static void rejected(WebhookSpec spec, Class<? extends ExtendException> type, String field) {
    assertThatThrownBy(() -> platform.put(REF, spec)).isInstanceOf(type).hasMessageStartingWith(field);
    assertThat(platform.get(REF)).as("nothing stored").isEmpty();
  }

  @Test
  void privateScopesOnlyForGrantedContainers() {
    WebhookSpec corp = WebhookSpec.builder("x").dependency("@corp/x", "1.0.0").build();
    assertThatThrownBy(() -> platform.put(REF, corp)).isInstanceOfSatisfying(ValidationException.class, e -> {
      assertThat(e.status()).isEqualTo(400);
      assertThat(e.getMessage()).isEqualTo(
          "dependencies.@corp/x: the private scope @corp is not granted to container acme");
    });
    assertThat(platform.get(REF)).isEmpty();
    // An update may not add it either.
    WebhookRef other = WebhookRef.of("acme", "other");
    platform.put(other, WebhookSpec.builder("x").dependency("@public/y", "1.0.0").build());
    assertThatThrownBy(() -> platform.put(other, corp)).isInstanceOf(ValidationException.class)
        .hasMessageStartingWith("dependencies.@corp/x:");
    assertThat(platform.get(other).orElseThrow().dependencies()).extracting(ModuleRef::name).containsExactly("@public/y");
    platform.delete(other);
    // The granted container may.
    WebhookRef granted = WebhookRef.of("granted", "v");
    assertThat(platform.put(granted, corp).webhook().dependencies()).extracting(ModuleRef::name).containsExactly("@corp/x");
    platform.delete(granted);
  }

  @Test
  void codeSize() {
    rejected(WebhookSpec.builder("x".repeat(2049)).build(), PayloadTooLargeException.class, "code:");
  }

  @Test
  void dependencyCount() {
    rejected(WebhookSpec.builder("x").dependency("a", "1.0.0").dependency("b", "1.0.0").dependency("c", "1.0.0").build(),
        ValidationException.class, "dependencies:");
  }

  @Test
  void secretsCountNameAndSize() {
    rejected(WebhookSpec.builder("x").secret("A", "1").secret("B", "2").secret("C", "3").build(),
        ValidationException.class, "secrets:");
    rejected(WebhookSpec.builder("x").secret("1BAD", "v").build(), ValidationException.class, "secrets.1BAD:");
    rejected(WebhookSpec.builder("x").secret("BIG", "x".repeat(17)).build(), PayloadTooLargeException.class, "secrets.BIG:");
  }

  @Test
  void metaCountNameAndSize() {
    rejected(WebhookSpec.builder("x").meta("a", "1").meta("b", "2").meta("c", "3").build(), ValidationException.class, "meta:");
    rejected(WebhookSpec.builder("x").meta("bad key", "v").build(), ValidationException.class, "meta.bad key:");
    rejected(WebhookSpec.builder("x").meta("k", "x".repeat(17)).build(), PayloadTooLargeException.class, "meta.k:");
  }

  @Test
  void limitsWithinMaxima() {
    rejected(WebhookSpec.builder("x").limits(new Limits(Duration.ofSeconds(61), 128)).build(), ValidationException.class,
        "limits.timeoutMs:");
    rejected(WebhookSpec.builder("x").limits(new Limits(Duration.ofSeconds(1), 513)).build(), ValidationException.class,
        "limits.memoryMb:");
  }

  @Test
  void readsNeverReturnSecretValues() {
    WebhookRef ref = WebhookRef.of("acme", "secretive");
    PutResult r = platform.put(ref, WebhookSpec.builder("module.exports = async () => 1").secret("TOKEN", "hunter2").build());
    assertThat(r.created()).isTrue();
    assertThat(r.webhook().secretNames()).containsExactly("TOKEN");
    assertThat(platform.get(ref).orElseThrow().toString()).doesNotContain("hunter2");
    assertThat(platform.list(ref.container(), 10, null).items().toString()).doesNotContain("hunter2");
  }

  @Test
  void listPagesInNameOrder() {
    ContainerName c = ContainerName.of("lister");
    for (String n : List.of("c", "a", "e", "b", "d")) {
      platform.put(new WebhookRef(c, WebhookName.of(n)), WebhookSpec.builder("module.exports = async () => 1").build());
    }
    Page<Webhook> p1 = platform.list(c, 2, null);
    Page<Webhook> p2 = platform.list(c, 2, p1.nextCursor());
    Page<Webhook> p3 = platform.list(c, 2, p2.nextCursor());
    assertThat(p1.items()).extracting(w -> w.ref().name().value()).containsExactly("a", "b");
    assertThat(p2.items()).extracting(w -> w.ref().name().value()).containsExactly("c", "d");
    assertThat(p3.items()).extracting(w -> w.ref().name().value()).containsExactly("e");
    assertThat(p3.nextCursor()).isNull();
    assertThatThrownBy(() -> platform.list(c, 0, null)).hasMessageStartingWith("limit:");
    assertThatThrownBy(() -> platform.list(c, 2, "%%%")).hasMessageStartingWith("cursor:");
  }

  @Test
  void deleteWithExpectedVersion() {
    WebhookRef ref = WebhookRef.of("acme", "gone");
    platform.put(ref, WebhookSpec.builder("module.exports = async () => 1").build());
    assertThatThrownBy(() -> platform.delete(ref, 7)).isInstanceOf(VersionMismatchException.class);
    assertThat(platform.delete(ref, 1)).isTrue();
    assertThat(platform.delete(ref)).isFalse();
    assertThatThrownBy(() -> platform.invoke(ref, InvocationRequest.get())).isInstanceOf(NotFoundException.class);
  }

  @Test
  void modulesAreQueuedAndInvocationWaitsForThem() {
    WebhookRef ref = WebhookRef.of("acme", "needs-lodash");
    PutResult r = platform.put(ref, WebhookSpec.builder("module.exports = async () => require('lodash').VERSION")
        .dependency("lodash", "4.17.21").build());
    // no builder in this platform: the build stays queued for a worker
    assertThat(r.modules()).singleElement().satisfies(m -> {
      assertThat(m.state()).isEqualTo(ModuleState.QUEUED);
      assertThat(m.module().abi()).isEqualTo(NodeRuntime.BUILT_IN.get(1).abi());
    });
    assertThat(platform.buildQueueDepth()).isEqualTo(1);
    assertThatThrownBy(() -> platform.invoke(ref, InvocationRequest.get()))
        .isInstanceOfSatisfying(ModulesNotReadyException.class, e -> {
          assertThat(e.status()).isEqualTo(409);
          // the build for the webhook's runtime: the default's ABI
          assertThat(e.modules()).singleElement().satisfies(m -> assertThat(m.module())
              .isEqualTo(ModuleRef.parse("lodash@4.17.21").forAbi(platform.defaultRuntime().abi())));
        });
  }
}
