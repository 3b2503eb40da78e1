package dev.extend.containerd;

import dev.extend.containerd.internal.api.ContainersGrpc;
import dev.extend.containerd.internal.api.EventsGrpc;
import dev.extend.containerd.internal.api.TasksGrpc;
import dev.extend.containerd.internal.api.VersionGrpc;
import io.grpc.Channel;
import io.grpc.ClientInterceptors;
import io.grpc.ConnectivityState;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.MetadataUtils;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * One gRPC channel to containerd's Unix socket with the namespace header on every call.
 * grpc-java reconnects the channel by itself; {@link #kick()} cuts its backoff short once we
 * know the daemon is back (it may wait up to two minutes otherwise).
 */
final class ContainerdClient implements AutoCloseable {
  static final Metadata.Key<String> NAMESPACE_KEY =
      Metadata.Key.of("containerd-namespace", Metadata.ASCII_STRING_MARSHALLER);
  /** containerd's default limit; grpc-java's is 4 MiB. */
  private static final int MAX_MESSAGE = 16 * 1024 * 1024;

  private final Path socket;
  private final String namespace;
  private final ManagedChannel channel;
  private final Channel namespaced;
  private final Duration callTimeout;

  ContainerdClient(Path socket, String namespace, Duration callTimeout) {
    this.socket = socket;
    this.namespace = namespace;
    this.callTimeout = callTimeout;
    this.channel = Grpc.newChannelBuilder("unix://" + socket.toAbsolutePath(), InsecureChannelCredentials.create())
        .overrideAuthority("localhost")
        .maxInboundMessageSize(MAX_MESSAGE)
        .build();
    Metadata headers = new Metadata();
    headers.put(NAMESPACE_KEY, namespace);
    this.namespaced = ClientInterceptors.intercept(channel, MetadataUtils.newAttachHeadersInterceptor(headers));
  }

  Path socket() {
    return socket;
  }

  String namespace() {
    return namespace;
  }

  ContainersGrpc.ContainersBlockingStub containers() {
    return ContainersGrpc.newBlockingStub(namespaced).withDeadlineAfter(callTimeout.toMillis(), TimeUnit.MILLISECONDS);
  }

  TasksGrpc.TasksBlockingStub tasks() {
    return TasksGrpc.newBlockingStub(namespaced).withDeadlineAfter(callTimeout.toMillis(), TimeUnit.MILLISECONDS);
  }

  /** For long calls (Wait): no deadline. */
  TasksGrpc.TasksStub tasksAsync() {
    return TasksGrpc.newStub(namespaced);
  }

  EventsGrpc.EventsStub events() {
    return EventsGrpc.newStub(namespaced);
  }

  /** The daemon's version, or an exception when it does not answer within {@code timeout}. */
  String version(Duration timeout) {
    return VersionGrpc.newBlockingStub(namespaced)
        .withDeadlineAfter(timeout.toMillis(), TimeUnit.MILLISECONDS)
        .version(com.google.protobuf.Empty.getDefaultInstance())
        .getVersion();
  }

  /** Skips the channel's reconnect backoff, so the next call tries at once. */
  void kick() {
    ConnectivityState state = channel.getState(false);
    if (state == ConnectivityState.TRANSIENT_FAILURE || state == ConnectivityState.IDLE) {
      channel.resetConnectBackoff();
    }
  }

  static boolean notFound(Throwable e) {
    return e instanceof StatusRuntimeException s && s.getStatus().getCode() == Status.Code.NOT_FOUND;
  }

  static boolean unavailable(Throwable e) {
    return e instanceof StatusRuntimeException s && s.getStatus().getCode() == Status.Code.UNAVAILABLE;
  }

  @Override
  public void close() {
    channel.shutdownNow();
    try {
      channel.awaitTermination(2, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
