package dev.extend.containerd;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * What one sandbox can make the resolver hold over TCP, performed on real sockets: connections
 * beyond its share are closed at once, and a connection that trickles a byte at a time (which
 * resets any read timeout) is closed at its deadline, so the resolver's connections stay free.
 */
class EgressDnsBoundsTest {

  @Test
  void oneSourceHoldsAFewConnectionsAndNoneForLong() throws Exception {
    try (TestDns upstream = new TestDns();
        EgressDns dns = new EgressDns(InetAddress.getLoopbackAddress(), List.of(upstream.address()), null)) {
      InetSocketAddress at = new InetSocketAddress(InetAddress.getLoopbackAddress(), dns.port());
      List<Socket> held = new ArrayList<>();
      try {
        for (int i = 0; i < EgressDns.TCP_PER_SANDBOX; i++) {
          Socket s = new Socket();
          s.connect(at, 2000);
          s.getOutputStream().write(0); // the first byte of a length that never completes
          held.add(s);
        }
        Thread.sleep(300);
        try (Socket extra = new Socket()) {
          extra.connect(at, 2000);
          extra.setSoTimeout(5000);
          assertThat(extra.getInputStream().read()).as("a connection beyond the share is closed").isEqualTo(-1);
        }
        // A trickle: one byte of a large query every 500 ms; the resolver ends it at its deadline.
        Socket trickle = held.get(0);
        trickle.setSoTimeout(500);
        OutputStream out = trickle.getOutputStream();
        InputStream in = trickle.getInputStream();
        out.write(0xff); // length 0x00ff: the query never completes at this pace
        long start = System.nanoTime();
        boolean closed = false;
        while (!closed && System.nanoTime() - start < (EgressDns.TCP_CONNECTION_MS + 10_000) * 1_000_000L) {
          try {
            closed = in.read() == -1;
          } catch (SocketTimeoutException stillOpen) {
            try {
              out.write('x');
            } catch (java.io.IOException reset) {
              closed = true;
            }
          } catch (java.io.IOException reset) {
            closed = true;
          }
        }
        assertThat(closed).as("a trickling connection is closed at its deadline").isTrue();
      } finally {
        for (Socket s : held) {
          s.close();
        }
      }
    }
  }
}
