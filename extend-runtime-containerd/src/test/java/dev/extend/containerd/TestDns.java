package dev.extend.containerd;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.xbill.DNS.ARecord;
import org.xbill.DNS.DClass;
import org.xbill.DNS.Flags;
import org.xbill.DNS.Message;
import org.xbill.DNS.Name;
import org.xbill.DNS.Rcode;
import org.xbill.DNS.Record;
import org.xbill.DNS.Section;
import org.xbill.DNS.Type;

/** A tiny authoritative DNS server on loopback for test names: A records from a map, else NXDOMAIN. */
final class TestDns implements AutoCloseable {
  final Map<String, String> names = new ConcurrentHashMap<>();
  final AtomicInteger queries = new AtomicInteger();
  private final DatagramChannel channel;
  private final Thread thread;

  TestDns() throws IOException {
    channel = DatagramChannel.open().bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
    thread = new Thread(this::serve, "test-dns");
    thread.setDaemon(true);
    thread.start();
  }

  InetSocketAddress address() {
    try {
      return (InetSocketAddress) channel.getLocalAddress();
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  private void serve() {
    ByteBuffer buf = ByteBuffer.allocate(4096);
    while (channel.isOpen()) {
      try {
        buf.clear();
        SocketAddress from = channel.receive(buf);
        buf.flip();
        byte[] b = new byte[buf.remaining()];
        buf.get(b);
        Message q = new Message(b);
        queries.incrementAndGet();
        Message r = new Message(q.getHeader().getID());
        r.getHeader().setFlag(Flags.QR);
        r.getHeader().setFlag(Flags.AA);
        Record question = q.getQuestion();
        r.addRecord(question, Section.QUESTION);
        String name = question.getName().toString(true).toLowerCase();
        String address = names.get(name);
        if (address == null) {
          r.getHeader().setRcode(Rcode.NXDOMAIN);
        } else if (question.getType() == Type.A) {
          r.addRecord(new ARecord(question.getName(), DClass.IN, 30, InetAddress.getByName(address)), Section.ANSWER);
        }
        channel.send(ByteBuffer.wrap(r.toWire()), from);
      } catch (IOException | RuntimeException e) {
        // closed, or a bad query: next
      }
    }
  }

  @Override
  public void close() throws IOException {
    channel.close();
  }
}
