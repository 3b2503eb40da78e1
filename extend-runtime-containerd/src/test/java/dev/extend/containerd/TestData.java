package dev.extend.containerd;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import dev.extend.containerd.internal.api.ContainersApi;

/** A data directory shared by this module's tests, so the root filesystem is assembled once. */
final class TestData {
  private TestData() {}

  static Path dataDir() throws IOException {
    return Files.createDirectories(Path.of("target/extend-data").toAbsolutePath());
  }

  /** Ids of the containers labelled with {@code nodeId} in the test namespace. */
  static List<String> containersOf(Path socket, String nodeId) {
    try (ContainerdClient c = new ContainerdClient(socket, "extend-test", Duration.ofSeconds(10))) {
      List<String> ids = new ArrayList<>();
      for (ContainersApi.Container ct : c.containers().list(ContainersApi.ListContainersRequest.newBuilder()
          .addFilters("labels.\"dev.extend.node\"==\"" + nodeId + "\"").build()).getContainersList()) {
        ids.add(ct.getId());
      }
      return ids;
    }
  }
}
