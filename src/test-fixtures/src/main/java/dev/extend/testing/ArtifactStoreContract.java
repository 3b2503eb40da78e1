package dev.extend.testing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.extend.PayloadTooLargeException;
import dev.extend.spi.Artifact;
import dev.extend.spi.ArtifactStore;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The duties of {@link ArtifactStore}, checked against an implementation. Subclasses return a
 * fresh, empty store from {@link #createStore()}.
 */
public abstract class ArtifactStoreContract extends StoreContract<ArtifactStore> {

  /**
   * Size of the blob of the streaming test (default 64 MiB). A store that streams can be tested
   * with a heap smaller than this.
   */
  protected long largeArtifactBytes() {
    return 64L << 20;
  }


  private static byte[] bytes(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  private byte[] read(String digest) throws IOException {
    try (InputStream in = store.open(digest).orElseThrow()) {
      return in.readAllBytes();
    }
  }

  @Test
  void putAddressesContentBySha256() throws IOException {
    byte[] content = bytes("hello, artifact");
    Artifact a = store.put(new ByteArrayInputStream(content), 1024);

    assertThat(a.digest()).isEqualTo(GeneratedStream.sha256(new ByteArrayInputStream(content)));
    assertThat(a.size()).isEqualTo(content.length);
    assertThat(store.exists(a.digest())).isTrue();
    assertThat(read(a.digest())).isEqualTo(content);
  }

  @Test
  void emptyContentIsABlobToo() throws IOException {
    Artifact a = store.put(new ByteArrayInputStream(new byte[0]), 10);
    assertThat(a.digest()).isEqualTo("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assertThat(a.size()).isZero();
    assertThat(read(a.digest())).isEmpty();
  }

  @Test
  void unknownDigestIsAbsent() throws IOException {
    String digest = "0".repeat(64);
    assertThat(store.open(digest)).isEmpty();
    assertThat(store.exists(digest)).isFalse();
    assertThat(store.delete(digest)).isFalse();
  }

  @Test
  void malformedDigestsNameNoBlob() throws IOException {
    Artifact a = store.put(new ByteArrayInputStream(bytes("named by its sha256")), 100);
    for (String bad : new String[] {null, "", a.digest().toUpperCase(java.util.Locale.ROOT), a.digest() + "0",
        a.digest().substring(1), "../" + a.digest().substring(3), a.digest().substring(0, 63) + "\n"}) {
      assertThat(store.open(bad)).as("open(%s)", bad).isEmpty();
      assertThat(store.exists(bad)).as("exists(%s)", bad).isFalse();
      assertThat(store.delete(bad)).as("delete(%s)", bad).isFalse();
    }
    assertThat(read(a.digest())).isEqualTo(bytes("named by its sha256"));
  }

  @Test
  void sameContentTwiceIsStoredOnce() throws IOException {
    byte[] content = bytes("twice");
    Artifact a = store.put(new ByteArrayInputStream(content), 100);
    Artifact b = store.put(new ByteArrayInputStream(content), 100);

    assertThat(b).isEqualTo(a);
    assertThat(store.delete(a.digest())).isTrue();
    assertThat(store.exists(a.digest())).as("one delete removes the only copy").isFalse();
    assertThat(store.open(a.digest())).isEmpty();
    assertThat(store.delete(a.digest())).isFalse();
  }

  @Test
  void contentLargerThanMaxBytesIsRejectedAndNothingIsStored() throws IOException {
    byte[] content = new byte[3 * 1024 * 1024 + 17];
    Arrays.fill(content, (byte) 7);
    String digest = GeneratedStream.sha256(new ByteArrayInputStream(content));

    assertThatThrownBy(() -> store.put(new ByteArrayInputStream(content), content.length - 1))
        .isInstanceOf(PayloadTooLargeException.class);
    assertThat(store.exists(digest)).isFalse();
    assertThat(store.open(digest)).isEmpty();

    Artifact exact = store.put(new ByteArrayInputStream(content), content.length);
    assertThat(exact.digest()).isEqualTo(digest);
    assertThat(read(digest)).isEqualTo(content);
  }

  @Test
  void largeContentStreamsInBothDirections() throws IOException {
    long size = largeArtifactBytes();
    String expected = GeneratedStream.sha256(42, size);

    Artifact a = store.put(new GeneratedStream(42, size), size);
    assertThat(a.size()).isEqualTo(size);
    assertThat(a.digest()).isEqualTo(expected);
    assertThat(GeneratedStream.sha256(store.open(a.digest()).orElseThrow())).isEqualTo(expected);

    // Oversized: one byte over the limit, after many chunks were accepted.
    assertThatThrownBy(() -> store.put(new GeneratedStream(43, size), size - 1))
        .isInstanceOf(PayloadTooLargeException.class);
    assertThat(store.exists(GeneratedStream.sha256(43, size))).isFalse();
    assertThat(store.delete(a.digest())).isTrue();
  }

  @Test
  void blobIsInvisibleUntilCompletelyStored() throws Exception {
    long size = 3L << 20;
    String digest = GeneratedStream.sha256(7, size);
    CountDownLatch halfway = new CountDownLatch(1);
    CountDownLatch resume = new CountDownLatch(1);
    InputStream slow = new InputStream() {
      private final GeneratedStream in = new GeneratedStream(7, size);
      private long read;

      @Override
      public int read() throws IOException {
        byte[] one = new byte[1];
        return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
      }

      @Override
      public int read(byte[] b, int off, int len) throws IOException {
        long half = size / 2;
        if (read == half && halfway.getCount() > 0) {
          halfway.countDown(); // half the content is in the store's hands
          try {
            resume.await();
          } catch (InterruptedException e) {
            throw new java.io.InterruptedIOException();
          }
        }
        int n = in.read(b, off, read < half ? (int) Math.min(len, half - read) : len);
        if (n > 0) {
          read += n;
        }
        return n;
      }
    };
    CompletableFuture<Artifact> put = CompletableFuture.supplyAsync(() -> {
      try {
        return store.put(slow, size);
      } catch (IOException e) {
        throw new java.io.UncheckedIOException(e);
      }
    });
    try {
      assertThat(halfway.await(60, TimeUnit.SECONDS)).isTrue();
      assertThat(store.exists(digest)).isFalse();
      assertThat(store.open(digest)).isEmpty();
    } finally {
      resume.countDown();
    }
    assertThat(put.get(60, TimeUnit.SECONDS).digest()).isEqualTo(digest);
    assertThat(GeneratedStream.sha256(store.open(digest).orElseThrow())).isEqualTo(digest);
  }

  @Test
  void concurrentPutsOfTheSameContentAgree() throws Exception {
    long size = 2L << 20;
    String expected = GeneratedStream.sha256(9, size);
    List<Race.Outcome<Artifact>> outcomes = Race.run(6, i -> () -> store.put(new GeneratedStream(9, size), size));

    for (Race.Outcome<Artifact> o : outcomes) {
      assertThat(o.error()).isNull();
      assertThat(o.value()).isEqualTo(new Artifact(expected, size));
    }
    assertThat(GeneratedStream.sha256(store.open(expected).orElseThrow())).isEqualTo(expected);
    assertThat(store.delete(expected)).isTrue();
    assertThat(store.exists(expected)).isFalse();
  }
}
