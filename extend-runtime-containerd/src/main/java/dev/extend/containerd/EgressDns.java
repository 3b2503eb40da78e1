package dev.extend.containerd;

import dev.extend.EgressPolicy;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.Semaphore;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.xbill.DNS.ARecord;
import org.xbill.DNS.DClass;
import org.xbill.DNS.ExtendedResolver;
import org.xbill.DNS.Flags;
import org.xbill.DNS.Message;
import org.xbill.DNS.Name;
import org.xbill.DNS.Opcode;
import org.xbill.DNS.Rcode;
import org.xbill.DNS.Record;
import org.xbill.DNS.Resolver;
import org.xbill.DNS.ResolverConfig;
import org.xbill.DNS.Section;
import org.xbill.DNS.SimpleResolver;
import org.xbill.DNS.Type;

/**
 * The sandboxes' resolver: every DNS query a sandbox sends (to any address: the network
 * redirects port 53) arrives here, on the bridge's address, over UDP or TCP.
 *
 * <p>A query is answered by the sandbox's policy, which the resolver finds by the query's source
 * address: in {@code none} mode nothing resolves; in {@code allowlist} mode only names that a
 * host entry names; in {@code public} mode any name. The question is asked upstream anew (the
 * host's resolvers, or the configured ones), never forwarded as sent. Of the answer the sandbox
 * gets the CNAME chain and the A records its policy allows (IPv6 answers are dropped:
 * sandboxes have no IPv6); a name whose every address is refused answers with no address, and
 * the refusal is reported. Addresses of names that host entries allow are added to the
 * policy's sets before the answer leaves, so the connection that follows is let through.
 * Reverse lookups, zone transfers and {@code ANY} are refused.
 *
 * <p>Bounded: 64 queries in flight per sandbox and 1024 in all (beyond that queries are
 * dropped, as a loaded resolver would), 32 TCP connections, 5 s per TCP connection idle.
 */
final class EgressDns implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(EgressDns.class);
  private static final int PER_SANDBOX = 64;
  /** Addresses of one answer a sandbox gets (and the host opens for an allowed name); the rest are dropped. */
  static final int MAX_ADDRESSES = 16;
  /** TCP connections one sandbox may hold open to the resolver. */
  static final int TCP_PER_SANDBOX = 4;
  /** How long one TCP connection may last in all, however it trickles. */
  static final long TCP_CONNECTION_MS = 10_000;

  private final SandboxNetwork network;
  private final DatagramChannel udp;
  private final ServerSocketChannel tcp;
  private final Resolver upstream;
  private final String upstreamDescription;
  private final ExecutorService workers;
  private final Semaphore inFlight = new Semaphore(1024);
  private final Semaphore tcpConnections = new Semaphore(32);
  private final Map<InetAddress, AtomicInteger> tcpPerSource = new ConcurrentHashMap<>();
  private final Map<InetAddress, AtomicInteger> perSource = new ConcurrentHashMap<>();
  private final java.util.concurrent.ScheduledExecutorService closer =
      java.util.concurrent.Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "extend-egress-dns-deadlines");
        t.setDaemon(true);
        return t;
      });
  private final Thread udpThread;
  private final Thread tcpThread;
  private volatile boolean closed;

  EgressDns(InetAddress bind, List<InetSocketAddress> servers, SandboxNetwork network) throws IOException {
    this.network = network;
    List<InetSocketAddress> up = servers.isEmpty() ? ResolverConfig.getCurrentConfig().servers() : servers;
    if (up.isEmpty()) {
      throw new IOException("no upstream DNS server: the host's /etc/resolv.conf names none; configure one");
    }
    List<Resolver> resolvers = new ArrayList<>();
    for (InetSocketAddress s : up) {
      SimpleResolver r = new SimpleResolver(s);
      r.setTimeout(Duration.ofSeconds(3));
      resolvers.add(r);
    }
    ExtendedResolver ext = new ExtendedResolver(resolvers);
    ext.setTimeout(Duration.ofSeconds(5));
    ext.setRetries(2);
    this.upstream = ext;
    this.upstreamDescription = up.toString();
    this.workers = new ThreadPoolExecutor(4, 4, 30, TimeUnit.SECONDS, new LinkedBlockingQueue<>(4096), r -> {
      Thread t = new Thread(r, "extend-egress-dns");
      t.setDaemon(true);
      return t;
    }, new ThreadPoolExecutor.DiscardPolicy());
    this.udp = DatagramChannel.open();
    this.tcp = ServerSocketChannel.open();
    try {
      udp.bind(new InetSocketAddress(bind, 0));
      int port = ((InetSocketAddress) udp.getLocalAddress()).getPort();
      tcp.bind(new InetSocketAddress(bind, port), 64);
    } catch (IOException e) {
      udp.close();
      tcp.close();
      workers.shutdownNow();
      throw e;
    }
    this.udpThread = new Thread(this::serveUdp, "extend-egress-dns-udp");
    udpThread.setDaemon(true);
    udpThread.start();
    this.tcpThread = new Thread(this::serveTcp, "extend-egress-dns-tcp");
    tcpThread.setDaemon(true);
    tcpThread.start();
  }

  int port() {
    try {
      return ((InetSocketAddress) udp.getLocalAddress()).getPort();
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
  }

  String upstreamDescription() {
    return upstreamDescription;
  }

  // ---- transports --------------------------------------------------------------------------

  private void serveUdp() {
    ByteBuffer buf = ByteBuffer.allocate(4096);
    while (!closed) {
      try {
        buf.clear();
        SocketAddress from = udp.receive(buf);
        if (!(from instanceof InetSocketAddress source)) {
          continue;
        }
        buf.flip();
        byte[] query = new byte[buf.remaining()];
        buf.get(query);
        InetAddress address = source.getAddress();
        if (!admit(address)) {
          continue;
        }
        workers.execute(() -> {
          try {
            byte[] answer = answer(address, query, 512);
            if (answer != null) {
              udp.send(ByteBuffer.wrap(answer), source);
            }
          } catch (IOException | RuntimeException e) {
            LOG.debug("DNS answer to {} failed: {}", source, e.toString());
          } finally {
            done(address);
          }
        });
      } catch (IOException e) {
        if (!closed) {
          LOG.debug("DNS receive failed: {}", e.toString());
        }
      }
    }
  }

  private void serveTcp() {
    while (!closed) {
      try {
        SocketChannel c = tcp.accept();
        InetAddress source = ((InetSocketAddress) c.getRemoteAddress()).getAddress();
        AtomicInteger mine = tcpPerSource.computeIfAbsent(source, k -> new AtomicInteger());
        if (mine.incrementAndGet() > TCP_PER_SANDBOX || !tcpConnections.tryAcquire()) {
          releaseTcp(source, mine);
          c.close();
          continue;
        }
        Thread t = new Thread(() -> {
          // A connection ends at its deadline, however slowly it sends: a sandbox cannot hold
          // the resolver's connections (a trickle resets the read timeout, not this).
          java.util.concurrent.ScheduledFuture<?> deadline = closer.schedule(() -> {
            try {
              c.close();
            } catch (IOException e) {
              // closing
            }
          }, TCP_CONNECTION_MS, TimeUnit.MILLISECONDS);
          try (c) {
            serveConnection(c);
          } catch (IOException | RuntimeException e) {
            LOG.debug("DNS over TCP: {}", e.toString());
          } finally {
            deadline.cancel(false);
            tcpConnections.release();
            releaseTcp(source, mine);
          }
        }, "extend-egress-dns-tcp-conn");
        t.setDaemon(true);
        t.start();
      } catch (IOException e) {
        if (!closed) {
          LOG.debug("DNS accept failed: {}", e.toString());
        }
      }
    }
  }

  private void releaseTcp(InetAddress source, AtomicInteger n) {
    if (n.decrementAndGet() <= 0) {
      tcpPerSource.remove(source, n);
    }
  }

  private void serveConnection(SocketChannel c) throws IOException {
    InetAddress source = ((InetSocketAddress) c.getRemoteAddress()).getAddress();
    c.socket().setSoTimeout(5000);
    var in = new java.io.DataInputStream(c.socket().getInputStream());
    var out = c.socket().getOutputStream();
    for (int i = 0; i < 16; i++) {
      int length;
      try {
        length = in.readUnsignedShort();
      } catch (java.io.EOFException | SocketTimeoutException e) {
        return;
      }
      if (length < 12) {
        return;
      }
      byte[] query = in.readNBytes(length);
      if (query.length != length || !admit(source)) {
        return;
      }
      byte[] answer;
      try {
        answer = answer(source, query, 65535);
      } finally {
        done(source);
      }
      if (answer == null) {
        return;
      }
      byte[] framed = new byte[answer.length + 2];
      framed[0] = (byte) (answer.length >>> 8);
      framed[1] = (byte) answer.length;
      System.arraycopy(answer, 0, framed, 2, answer.length);
      out.write(framed);
      out.flush();
    }
  }

  private boolean admit(InetAddress source) {
    if (!inFlight.tryAcquire()) {
      return false;
    }
    AtomicInteger n = perSource.computeIfAbsent(source, k -> new AtomicInteger());
    if (n.incrementAndGet() > PER_SANDBOX) {
      n.decrementAndGet();
      inFlight.release();
      return false;
    }
    return true;
  }

  private void done(InetAddress source) {
    AtomicInteger n = perSource.get(source);
    if (n != null && n.decrementAndGet() <= 0) {
      perSource.remove(source, n);
    }
    inFlight.release();
  }

  // ---- answers -----------------------------------------------------------------------------

  /** The answer to a query from {@code source}, or null to answer nothing. */
  byte[] answer(InetAddress source, byte[] wire, int maxLength) {
    Message query;
    try {
      query = new Message(wire);
    } catch (IOException e) {
      return null;
    }
    if (query.getHeader().getFlag(Flags.QR) || query.getHeader().getOpcode() != Opcode.QUERY) {
      return null;
    }
    Record question = query.getQuestion();
    if (question == null || query.getSectionArray(Section.QUESTION).length != 1) {
      return reply(query, Rcode.FORMERR, List.of(), maxLength);
    }
    SandboxNetwork.Attachment sandbox = network.at(source);
    EgressPolicy policy = sandbox == null ? null : sandbox.policy();
    SandboxNetwork.Chain chain = sandbox == null ? null : sandbox.chain;
    if (policy == null || chain == null) {
      return reply(query, Rcode.REFUSED, List.of(), maxLength);
    }
    String name = lower(question.getName());
    int type = question.getType();
    if (question.getDClass() != DClass.IN || type == Type.ANY || type == Type.AXFR || type == Type.IXFR
        || name.endsWith(".in-addr.arpa") || name.endsWith(".ip6.arpa")) {
      return reply(query, Rcode.REFUSED, List.of(), maxLength);
    }
    List<EgressPolicy.Rule> hostRules = policy.hostRules(name);
    if (policy.mode() == EgressPolicy.Mode.NONE
        || policy.mode() == EgressPolicy.Mode.ALLOWLIST && hostRules.isEmpty()) {
      network.deniedName(sandbox, name);
      return reply(query, Rcode.NXDOMAIN, List.of(), maxLength);
    }
    Message response;
    try {
      response = upstream.send(Message.newQuery(Record.newRecord(question.getName(), type, DClass.IN)));
    } catch (IOException e) {
      return reply(query, Rcode.SERVFAIL, List.of(), maxLength);
    }
    int rcode = response.getRcode();
    if (rcode != Rcode.NOERROR) {
      return reply(query, rcode == Rcode.NXDOMAIN ? Rcode.NXDOMAIN : Rcode.SERVFAIL, List.of(), maxLength);
    }
    List<Record> kept = new ArrayList<>();
    List<InetAddress> allowedByName = new ArrayList<>();
    int addresses = 0;
    List<String> refused = new ArrayList<>();
    long ttl = Long.MAX_VALUE;
    for (Record r : response.getSection(Section.ANSWER)) {
      if (r.getType() == Type.AAAA) {
        continue;
      }
      if (r instanceof ARecord a) {
        InetAddress address = a.getAddress();
        if (addresses++ >= MAX_ADDRESSES) {
          continue; // an upstream that answers thousands of addresses opens no more than these
        }
        if (!hostRules.isEmpty()) {
          allowedByName.add(address);
          ttl = Math.min(ttl, r.getTTL());
          kept.add(r);
        } else if (allowedOnAnyPort(policy, address)) {
          kept.add(r);
        } else {
          refused.add(address.getHostAddress());
        }
      } else {
        kept.add(r);
      }
    }
    if (!allowedByName.isEmpty()) {
      try {
        network.allowResolved(chain, allowedByName, hostRules, ttl == Long.MAX_VALUE ? 60 : ttl);
      } catch (IOException e) {
        LOG.warn("cannot allow the addresses of {} for {}: {}", name, sandbox.sandboxId, e.getMessage());
        return reply(query, Rcode.SERVFAIL, List.of(), maxLength);
      }
    }
    if (!refused.isEmpty()) {
      network.deniedName(sandbox, name + " (" + String.join(", ", refused) + ")");
    }
    return reply(query, Rcode.NOERROR, kept, maxLength);
  }

  /** Whether the policy lets some TCP port of {@code address} through by address alone. */
  private static boolean allowedOnAnyPort(EgressPolicy policy, InetAddress address) {
    if (policy.mode() == EgressPolicy.Mode.PUBLIC && !EgressPolicy.isSpecialPurpose(address)) {
      return true;
    }
    for (EgressPolicy.Rule r : policy.allow()) {
      if (!r.isHost() && r.matchesAddress(address, r.port())) {
        return true;
      }
    }
    return false;
  }

  private static byte[] reply(Message query, int rcode, List<Record> answers, int maxLength) {
    Message m = new Message(query.getHeader().getID());
    m.getHeader().setFlag(Flags.QR);
    m.getHeader().setFlag(Flags.RA);
    if (query.getHeader().getFlag(Flags.RD)) {
      m.getHeader().setFlag(Flags.RD);
    }
    m.getHeader().setRcode(rcode);
    Record q = query.getQuestion();
    if (q != null) {
      m.addRecord(q, Section.QUESTION);
    }
    for (Record r : answers) {
      m.addRecord(r, Section.ANSWER);
    }
    return m.toWire(maxLength);
  }

  private static String lower(Name name) {
    String s = name.toString(true).toLowerCase(Locale.ROOT);
    return s;
  }

  @Override
  public void close() {
    closed = true;
    try {
      udp.close();
    } catch (IOException e) {
      // closing
    }
    try {
      tcp.close();
    } catch (IOException e) {
      // closing
    }
    workers.shutdownNow();
    closer.shutdownNow();
  }
}
