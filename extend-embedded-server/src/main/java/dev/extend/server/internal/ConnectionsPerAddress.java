package dev.extend.server.internal;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Predicate;
import org.eclipse.jetty.io.Connection;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Caps the open connections of one remote address on a connector: a connection beyond the cap
 * is closed as soon as it opens. Added to a connector as a bean, so Jetty tells it about every
 * connection the connector opens and closes. Addresses the exemption accepts (trusted proxies,
 * which carry many clients' connections) are not counted.
 */
public final class ConnectionsPerAddress implements Connection.Listener {
  private static final Logger LOG = LoggerFactory.getLogger(ConnectionsPerAddress.class);
  private static final long WARN_EVERY_NANOS = 60_000_000_000L;

  private final int max;
  private final Predicate<InetAddress> exempt;
  private final ConcurrentHashMap<InetAddress, Integer> open = new ConcurrentHashMap<>();
  /** The address each counted connection was counted under (a closed channel no longer says). */
  private final ConcurrentHashMap<Connection, InetAddress> counted = new ConcurrentHashMap<>();
  private final AtomicLong refused = new AtomicLong();
  private final AtomicLong lastWarning = new AtomicLong(System.nanoTime() - WARN_EVERY_NANOS);

  /**
   * Creates the cap.
   *
   * @param max most open connections per remote address
   * @param exempt addresses not capped
   */
  public ConnectionsPerAddress(int max, Predicate<InetAddress> exempt) {
    this.max = max;
    this.exempt = exempt;
  }

  @Override
  public void onOpened(Connection connection) {
    InetAddress address = remote(connection);
    if (address == null) {
      return;
    }
    counted.put(connection, address);
    int now = open.merge(address, 1, Integer::sum);
    if (now > max) {
      long n = refused.incrementAndGet();
      long last = lastWarning.get();
      if (System.nanoTime() - last >= WARN_EVERY_NANOS && lastWarning.compareAndSet(last, System.nanoTime())) {
        LOG.warn("{} has {} connections open, more than the {} allowed per address; closing the new ones "
            + "({} refused so far; the setting is EXTEND_MAX_CONNECTIONS_PER_ADDRESS)", address.getHostAddress(),
            now - 1, max, n);
      }
      connection.getEndPoint().close();
    }
  }

  @Override
  public void onClosed(Connection connection) {
    InetAddress address = counted.remove(connection);
    if (address != null) {
      open.computeIfPresent(address, (a, n) -> n <= 1 ? null : n - 1);
    }
  }

  /** Connections refused so far. */
  public long refused() {
    return refused.get();
  }

  /** Open connections of an address (for tests). */
  int openOf(InetAddress address) {
    return open.getOrDefault(address, 0);
  }

  private InetAddress remote(Connection connection) {
    SocketAddress remote = connection.getEndPoint().getRemoteSocketAddress();
    if (!(remote instanceof InetSocketAddress inet) || inet.getAddress() == null) {
      return null;
    }
    InetAddress address = inet.getAddress();
    return exempt.test(address) ? null : address;
  }
}
