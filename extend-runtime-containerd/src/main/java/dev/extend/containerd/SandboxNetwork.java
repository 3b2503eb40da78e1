package dev.extend.containerd;

import com.fasterxml.jackson.databind.JsonNode;
import dev.extend.ContainerName;
import dev.extend.EgressCounters;
import dev.extend.EgressPolicy;
import dev.extend.spi.EgressListener;
import java.io.IOException;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Outbound networking for sandboxes, enforced by the host's kernel.
 *
 * <p>Each sandbox gets a network namespace of its own with one veth interface on a host bridge
 * (port isolation on: sandboxes cannot reach each other), an address of the bridge's subnet
 * and a default route through the host, which masquerades its traffic. One nftables table of
 * the host's ({@code inet extend_<bridge>}) decides every packet:
 * <ul>
 *   <li>a sandbox's packets are checked against the policy chain of its container (a verdict
 *       map from the sandbox's address): the host's own addresses are always refused, then the
 *       policy's address ranges, the addresses its host entries resolved to (sets filled by the
 *       resolver), and in {@code public} mode every address outside the special-purpose ranges;
 *       only TCP leaves, and a sandbox's DNS (UDP or TCP port 53, to any address) is redirected
 *       to the platform's resolver ({@link EgressDns});
 *   <li>a connection is admitted under one chain and marked with it; when the policy changes,
 *       the sandbox's next packet on an open connection is checked again, so a change applies
 *       to open connections too;
 *   <li>nothing from outside reaches a sandbox but replies on its own connections; a sandbox
 *       can hold at most {@value #MAX_FLOWS} connections at once (the host's connection table is
 *       shared);
 *   <li>refusals are answered (TCP reset, ICMP administratively prohibited) rather than left to
 *       time out, counted per container, and recorded in a set the network reads every second
 *       to report each refused destination once a minute per sandbox.
 * </ul>
 * Until the platform applies a policy to a sandbox, nothing leaves it.
 *
 * <p>One network per bridge per host: a lock file under {@code /run/extend} keeps a second
 * process from taking the same bridge; within one process, runtimes configured with the same
 * bridge share it. Starting takes the bridge over from an earlier run (its namespaces, links
 * and table are removed first).
 */
final class SandboxNetwork implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(SandboxNetwork.class);
  static final int MAX_FLOWS = 1024;
  private static final Path NETNS_DIR = Path.of("/run/netns");
  private static final Map<String, SandboxNetwork> SHARED = new HashMap<>();

  /** What a network is made of. */
  record Config(String bridge, Inet4Address subnet, int prefix, List<InetSocketAddress> dns) {
    Config {
      Objects.requireNonNull(bridge, "bridge");
      if (!bridge.matches("[a-z][a-z0-9]{0,11}")) {
        throw new IllegalArgumentException("bridge name: 1..12 lower-case letters and digits, starting with a letter");
      }
      if (prefix < 16 || prefix > 28) {
        throw new IllegalArgumentException("the sandbox subnet's prefix must be 16..28");
      }
      dns = List.copyOf(dns);
    }

    int size() {
      return 1 << (32 - prefix);
    }

    int base() {
      return toInt(subnet) & (-1 << (32 - prefix));
    }

    String cidr() {
      return address(base()) + "/" + prefix;
    }

    String gateway() {
      return address(base() + 1);
    }
  }

  /** One sandbox's place on the network. */
  final class Attachment {
    final int offset;
    final String address;
    final String netns;
    final String veth;
    final String sandboxId;
    volatile EgressListener listener;
    volatile Chain chain;

    Attachment(int offset, String sandboxId) {
      this.offset = offset;
      this.address = address(config.base() + offset);
      this.netns = config.bridge() + "-" + offset;
      this.veth = vethPrefix + Integer.toHexString(offset);
      this.sandboxId = sandboxId;
    }

    /** The namespace's file, for the OCI spec. */
    Path netnsPath() {
      return NETNS_DIR.resolve(netns);
    }

    ContainerName container() {
      Chain c = chain;
      return c == null ? null : c.container;
    }

    EgressPolicy policy() {
      Chain c = chain;
      return c == null ? null : c.policy;
    }
  }

  /** A container's policy as one set of chains; sandboxes of the container with that policy share it. */
  static final class Chain {
    final long id;
    final Object owner;
    final ContainerName container;
    final EgressPolicy policy;
    int users;
    /** Elements of the name sets and when they expire (ms), to refresh rather than duplicate. */
    final Map<String, Long> names = new ConcurrentHashMap<>();

    Chain(long id, Object owner, ContainerName container, EgressPolicy policy) {
      this.id = id;
      this.owner = owner;
      this.container = container;
      this.policy = policy;
    }
  }

  private record ChainKey(Object owner, ContainerName container, EgressPolicy policy) {}

  private final Config config;
  private final String table;
  private final String vethPrefix;
  private final Object lock = new Object();
  private final BitSet used;
  private int next = 2;
  private final Map<String, Attachment> byAddress = new ConcurrentHashMap<>();
  private final Map<ChainKey, Chain> chains = new HashMap<>();
  private final Map<Long, Chain> chainsById = new ConcurrentHashMap<>();
  private final AtomicLong chainIds = new AtomicLong();
  /** Counter totals per owner and container: chains gone plus the last reading of live ones. */
  private final Map<Object, Map<ContainerName, EgressCounters>> retired = new ConcurrentHashMap<>();
  private final Map<Long, EgressCounters> lastReading = new ConcurrentHashMap<>();
  private final Set<String> reported = new HashSet<>();
  private long lastDenials = -1;
  private Nft nft;
  private EgressDns dns;
  private FileChannel lockChannel;
  private FileLock fileLock;
  private ScheduledExecutorService poller;
  private int refs;

  private SandboxNetwork(Config config) {
    this.config = config;
    this.table = "inet extend_" + config.bridge();
    this.vethPrefix = "x" + Integer.toString(Math.abs(config.bridge().hashCode() % 46656), 36) + "v";
    this.used = new BitSet(config.size());
  }

  /** The network of {@code config}'s bridge in this process, started on first use. */
  static SandboxNetwork acquire(Config config) throws IOException {
    synchronized (SHARED) {
      SandboxNetwork n = SHARED.get(config.bridge());
      if (n != null) {
        if (!n.config.equals(config)) {
          throw new IOException("bridge " + config.bridge() + " is already in use in this process with another configuration");
        }
        n.refs++;
        return n;
      }
      n = new SandboxNetwork(config);
      n.start();
      n.refs = 1;
      SHARED.put(config.bridge(), n);
      return n;
    }
  }

  Config config() {
    return config;
  }

  /** The resolver's address as sandboxes use it (their {@code /etc/resolv.conf}). */
  String nameserver() {
    return config.gateway();
  }

  private void start() throws IOException {
    String missing = missingTools();
    if (missing != null) {
      throw new IOException(missing);
    }
    Files.createDirectories(Path.of("/run/extend"));
    lockChannel = FileChannel.open(Path.of("/run/extend/net-" + config.bridge() + ".lock"), StandardOpenOption.CREATE,
        StandardOpenOption.WRITE);
    try {
      fileLock = lockChannel.tryLock();
    } catch (OverlappingFileLockException e) {
      fileLock = null;
    }
    if (fileLock == null) {
      lockChannel.close();
      throw new IOException("the sandbox bridge " + config.bridge() + " is used by another process on this host;"
          + " give each node on one host a bridge and subnet of its own");
    }
    try {
      removeLeftovers();
      String conflict = routeConflict();
      if (conflict != null) {
        throw new IOException("the sandbox subnet " + config.cidr() + " overlaps a network of this host (" + conflict
            + "); choose another subnet");
      }
      ip(null, "link add " + config.bridge() + " type bridge",
          "addr add " + config.gateway() + "/" + config.prefix() + " dev " + config.bridge(),
          "link set " + config.bridge() + " up");
      writeSysctl("net/ipv6/conf/" + config.bridge() + "/disable_ipv6", "1");
      if (!"1".equals(readSysctl("net/ipv4/ip_forward"))) {
        writeSysctl("net/ipv4/ip_forward", "1");
        LOG.info("enabled IPv4 forwarding (net.ipv4.ip_forward=1) for sandbox egress");
      }
      dns = new EgressDns(InetAddress.getByName(config.gateway()), config.dns(), this);
      Nft.runScript(ruleset(dns.port()));
      nft = new Nft(table);
      poller = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "extend-egress-" + config.bridge());
        t.setDaemon(true);
        return t;
      });
      poller.scheduleWithFixedDelay(this::poll, 1, 1, TimeUnit.SECONDS);
      LOG.info("sandbox network {} on bridge {} (resolver {}:{}, upstream {})", config.cidr(), config.bridge(),
          config.gateway(), dns.port(), dns.upstreamDescription());
    } catch (IOException | RuntimeException e) {
      teardown();
      throw e;
    }
  }

  /** What is missing to run networking here, or null. */
  static String missingTools() {
    for (String tool : List.of("ip", Nft.BINARY)) {
      boolean found = false;
      for (String dir : List.of("/usr/sbin", "/sbin", "/usr/bin", "/bin")) {
        if (Files.isExecutable(Path.of(dir, tool))) {
          found = true;
        }
      }
      if (!found) {
        return "sandbox egress needs '" + tool + "' (Debian: apt-get install iproute2 nftables)";
      }
    }
    return null;
  }

  private String ruleset(int dnsPort) {
    String br = '"' + config.bridge() + '"';
    String special = String.join(", ",
        EgressPolicy.specialPurposeRanges().stream().filter(r -> !r.contains(":")).toList());
    return "table " + table + " {}\n"
        + "delete table " + table + "\n"
        + "table " + table + " {\n"
        + "  set special4 { type ipv4_addr; flags interval; elements = { " + special + " } }\n"
        + "  set live { type ipv4_addr; }\n"
        + "  map egress { type ipv4_addr : verdict; }\n"
        + "  map ingress { type ipv4_addr : verdict; }\n"
        + "  set sync { type inet_service; flags timeout; timeout 10s; }\n"
        + "  set denied { type ipv4_addr . ipv4_addr . inet_proto . inet_service; size 65536; flags dynamic,timeout;"
        + " timeout 60s; }\n"
        + "  set flows { type ipv4_addr; size 65536; flags dynamic; }\n"
        + "  counter denials {}\n"
        + "  chain deny {\n"
        + "    counter name denials\n"
        + "    meta l4proto { tcp, udp } add @denied { ip saddr . ip daddr . meta l4proto . th dport }\n"
        + "    meta l4proto tcp reject with tcp reset\n"
        + "    reject with icmpx admin-prohibited\n"
        + "  }\n"
        + "  chain dns_in {\n"
        + "    type nat hook prerouting priority dstnat; policy accept;\n"
        + "    iifname " + br + " ip saddr @live meta l4proto { tcp, udp } th dport 53 redirect to :" + dnsPort + "\n"
        + "  }\n"
        + "  chain nat_out {\n"
        + "    type nat hook postrouting priority srcnat; policy accept;\n"
        + "    ip saddr " + config.cidr() + " oifname != " + br + " masquerade\n"
        + "  }\n"
        + "  chain to_host {\n"
        + "    type filter hook input priority filter; policy accept;\n"
        + "    iifname " + br + " ip saddr @live ip daddr " + config.gateway() + " ct status dnat meta l4proto { tcp, udp }"
        + " th dport " + dnsPort + " accept\n"
        + "    iifname " + br + " ip saddr vmap @egress\n"
        + "    iifname " + br + " goto deny\n"
        + "  }\n"
        + "  chain through {\n"
        + "    type filter hook forward priority filter; policy accept;\n"
        + "    iifname " + br + " ct state new add @flows { ip saddr ct count over " + MAX_FLOWS + " } goto deny\n"
        + "    iifname " + br + " ip saddr vmap @egress\n"
        + "    iifname " + br + " goto deny\n"
        + "    oifname " + br + " ct state established,related ip daddr vmap @ingress\n"
        + "    oifname " + br + " drop\n"
        + "  }\n"
        + "}\n";
  }

  // ---- sandboxes ---------------------------------------------------------------------------

  /** Gives a sandbox its namespace, link and address; nothing leaves it until {@link #apply}. */
  Attachment attach(String sandboxId) throws IOException {
    Attachment a;
    synchronized (lock) {
      int offset = used.nextClearBit(next);
      if (offset >= config.size() - 1) {
        offset = used.nextClearBit(2);
      }
      if (offset >= config.size() - 1) {
        throw new IOException("the sandbox subnet " + config.cidr() + " has no address left");
      }
      used.set(offset);
      next = offset + 1;
      a = new Attachment(offset, sandboxId);
    }
    try {
      ip(null, "netns add " + a.netns,
          "link add " + a.veth + " type veth peer name eth0 netns " + a.netns,
          "link set " + a.veth + " master " + config.bridge() + " up",
          "link set " + a.veth + " type bridge_slave isolated on learning off");
      ip(a.netns, "addr add " + a.address + "/" + config.prefix() + " dev eth0",
          "link set eth0 up", "link set lo up", "route add default via " + config.gateway());
      byAddress.put(a.address, a);
      return a;
    } catch (IOException e) {
      release(a);
      throw e;
    }
  }

  /**
   * Applies a container's policy to a sandbox: its packets go through the policy's chain from
   * the next one on.
   */
  void apply(Attachment a, Object owner, EgressListener listener, ContainerName container, EgressPolicy policy)
      throws IOException {
    a.listener = listener;
    synchronized (lock) {
      Chain old = a.chain;
      if (old != null && old.container.equals(container) && old.policy.equals(policy)) {
        return;
      }
      ChainKey key = new ChainKey(owner, container, policy);
      Chain chain = chains.get(key);
      boolean created = chain == null;
      StringBuilder cmd = new StringBuilder();
      if (created) {
        // A new chain and the sandbox's map entries in one transaction: one round trip.
        chain = new Chain(chainIds.incrementAndGet(), owner, container, policy);
        cmd.append(chainScript(chain)).append("; ");
      }
      chain.users++;
      if (old != null) {
        cmd.append("delete element ").append(table).append(" egress { ").append(a.address).append(" }; ")
            .append("delete element ").append(table).append(" ingress { ").append(a.address).append(" }; ");
      } else {
        cmd.append("add element ").append(table).append(" live { ").append(a.address).append(" }; ");
      }
      cmd.append("add element ").append(table).append(" egress { ").append(a.address).append(" : jump p")
          .append(chain.id).append(" }; ")
          .append("add element ").append(table).append(" ingress { ").append(a.address).append(" : jump q")
          .append(chain.id).append(" }");
      try {
        nft.run(cmd.toString());
      } catch (IOException e) {
        chain.users--; // the transaction applied nothing; a chain in use keeps its other users
        throw e;
      }
      if (created) {
        chains.put(key, chain);
        chainsById.put(chain.id, chain);
      }
      a.chain = chain;
      if (old != null) {
        unuse(old);
      }
    }
  }

  /** Takes a sandbox off the network: its link, namespace and address are released. */
  void release(Attachment a) {
    synchronized (lock) {
      byAddress.remove(a.address, a);
      Chain c = a.chain;
      if (c != null && nft != null) {
        try {
          nft.run("delete element " + table + " egress { " + a.address + " }; delete element " + table + " ingress { "
              + a.address + " }; delete element " + table + " live { " + a.address + " }");
        } catch (IOException e) {
          LOG.warn("removing {} from the egress maps failed: {}", a.address, e.getMessage());
        }
        a.chain = null;
        unuse(c);
      }
    }
    try {
      ip(null, "-force", "link del " + a.veth, "netns del " + a.netns);
    } catch (IOException e) {
      LOG.debug("releasing the network of {}: {}", a.sandboxId, e.getMessage());
    }
    synchronized (lock) {
      used.clear(a.offset);
    }
  }

  /** The sandbox at a source address, or null. */
  Attachment at(InetAddress source) {
    return byAddress.get(source.getHostAddress());
  }

  private void unuse(Chain c) {
    if (--c.users > 0) {
      return;
    }
    chains.remove(new ChainKey(c.owner, c.container, c.policy));
    // The last reading becomes part of the container's totals once the counters are gone.
    EgressCounters last = readChain(c);
    chainsById.remove(c.id);
    lastReading.remove(c.id);
    retired.computeIfAbsent(c.owner, o -> new ConcurrentHashMap<>()).merge(c.container, last, EgressCounters::plus);
    long n = c.id;
    try {
      nft.run("delete chain " + table + " p" + n + "; delete chain " + table + " a" + n + "; delete chain " + table
          + " q" + n + "; delete set " + table + " h" + n + "; delete set " + table + " ha" + n + "; delete counter "
          + table + " o" + n + "; delete counter " + table + " i" + n + "; delete counter " + table + " n" + n
          + "; delete counter " + table + " d" + n);
    } catch (IOException e) {
      LOG.warn("removing egress chain {} failed: {}", n, e.getMessage());
    }
  }

  /** The nft commands creating a policy's chains, sets and counters. */
  private String chainScript(Chain c) {
    long n = c.id;
    String t = table;
    EgressPolicy p = c.policy;
    List<String> cmds = new ArrayList<>();
    for (String counter : List.of("o", "i", "n", "d")) {
      cmds.add("add counter " + t + " " + counter + n);
    }
    cmds.add("add set " + t + " h" + n + " { type ipv4_addr . inet_service; flags timeout; size 65536; }");
    cmds.add("add set " + t + " ha" + n + " { type ipv4_addr; flags timeout; size 65536; }");
    cmds.add("add chain " + t + " a" + n);
    cmds.add("add rule " + t + " a" + n + " ct mark set " + n);
    cmds.add("add rule " + t + " a" + n + " ct state new counter name n" + n);
    cmds.add("add rule " + t + " a" + n + " counter name o" + n + " accept");
    cmds.add("add chain " + t + " q" + n);
    cmds.add("add rule " + t + " q" + n + " counter name i" + n + " accept");
    cmds.add("add chain " + t + " p" + n);
    String deny = " counter name d" + n + " goto deny";
    if (p.mode() != EgressPolicy.Mode.NONE) {
      // Connections this chain admitted (the host is never among them): one lookup per packet.
      cmds.add("add rule " + t + " p" + n + " ct state established,related ct mark " + n + " counter name o" + n
          + " accept");
    }
    cmds.add("add rule " + t + " p" + n + " fib daddr type { local, broadcast, multicast }" + deny);
    if (p.mode() != EgressPolicy.Mode.NONE) {
      // Address ranges, grouped by port (IPv6 entries have nothing to match: sandboxes have no IPv6).
      Map<Integer, List<String>> ranges = new HashMap<>();
      for (EgressPolicy.Rule r : p.allow()) {
        if (!r.isHost() && r.network() instanceof Inet4Address) {
          ranges.computeIfAbsent(r.port(), k -> new ArrayList<>()).add(r.cidr());
        }
      }
      for (Map.Entry<Integer, List<String>> e : ranges.entrySet()) {
        String port = e.getKey() == 0 ? "" : " tcp dport " + e.getKey();
        cmds.add("add rule " + t + " p" + n + " meta l4proto tcp ip daddr { " + String.join(", ", e.getValue()) + " }"
            + port + " goto a" + n);
      }
      cmds.add("add rule " + t + " p" + n + " ip daddr . tcp dport @h" + n + " goto a" + n);
      cmds.add("add rule " + t + " p" + n + " meta l4proto tcp ip daddr @ha" + n + " goto a" + n);
      if (p.mode() == EgressPolicy.Mode.PUBLIC) {
        cmds.add("add rule " + t + " p" + n + " meta l4proto tcp ip daddr != @special4 goto a" + n);
      }
    }
    cmds.add("add rule " + t + " p" + n + deny);
    return String.join("; ", cmds);
  }

  /**
   * Lets a sandbox's container reach the addresses a name it may reach resolved to, for about
   * as long as the answer lives. Called by the resolver before it answers.
   */
  void allowResolved(Chain c, List<InetAddress> addresses, List<EgressPolicy.Rule> rules, long ttlSeconds)
      throws IOException {
    long timeout = Math.min(3600, Math.max(60, ttlSeconds)) + 30;
    long now = System.currentTimeMillis();
    List<String> refresh = new ArrayList<>();
    List<String> add = new ArrayList<>();
    // Remembered only once the kernel holds them: a full set must not grow this map.
    Map<String, Long> added = new HashMap<>();
    for (InetAddress address : addresses) {
      if (!(address instanceof Inet4Address)) {
        continue;
      }
      for (EgressPolicy.Rule r : rules) {
        String set = r.port() == 0 ? "ha" + c.id : "h" + c.id;
        String element = r.port() == 0 ? address.getHostAddress() : address.getHostAddress() + " . " + r.port();
        String key = set + " " + element;
        Long expires = c.names.get(key);
        if (expires != null && expires - now > timeout * 1000 / 2) {
          continue; // still good for a while
        }
        String del = "delete element " + table + " " + set + " { " + element + " }";
        String ins = "add element " + table + " " + set + " { " + element + " timeout " + timeout + "s }";
        if (expires != null && expires > now + 1000) {
          refresh.add(del);
        }
        add.add(ins);
        added.put(key, now + timeout * 1000);
      }
    }
    if (add.isEmpty()) {
      return;
    }
    List<String> all = new ArrayList<>(refresh);
    all.addAll(add);
    synchronized (lock) {
      if (!chainsById.containsKey(c.id)) {
        return; // the chain went away meanwhile
      }
      try {
        nft.run(String.join("; ", all));
      } catch (IOException e) {
        if (refresh.isEmpty()) {
          throw e;
        }
        nft.run(String.join("; ", add)); // an element expired between our reading and the kernel's
      }
      c.names.putAll(added);
    }
    if (c.names.size() > 100_000) {
      c.names.entrySet().removeIf(e -> e.getValue() < now);
    }
  }

  // ---- counters and refusals ---------------------------------------------------------------

  /** Per-container counters of one owner (a runtime): retired chains plus live ones. */
  Map<ContainerName, EgressCounters> counters(Object owner) {
    Map<ContainerName, EgressCounters> out = new HashMap<>(retired.getOrDefault(owner, Map.of()));
    for (Chain c : chainsById.values()) {
      if (c.owner == owner) {
        EgressCounters r = lastReading.get(c.id);
        if (r != null) {
          out.merge(c.container, r, EgressCounters::plus);
        }
      }
    }
    return out;
  }

  private void poll() {
    try {
      readCounters();
      reportDenials();
    } catch (IOException | RuntimeException e) {
      LOG.debug("reading egress counters failed: {}", e.toString());
    }
  }

  private void readCounters() throws IOException {
    Map<Long, long[]> byChain = new HashMap<>();
    long denials = 0;
    for (String line : nft.run("list counters table " + table)) {
      for (JsonNode item : OciSpecs.JSON.readTree(line).path("nftables")) {
        JsonNode counter = item.path("counter");
        String name = counter.path("name").asText("");
        if (name.equals("denials")) {
          denials = counter.path("packets").asLong();
          continue;
        }
        if (name.length() < 2 || !Character.isDigit(name.charAt(1))) {
          continue;
        }
        long id;
        try {
          id = Long.parseLong(name.substring(1));
        } catch (NumberFormatException e) {
          continue;
        }
        long[] v = byChain.computeIfAbsent(id, k -> new long[4]);
        switch (name.charAt(0)) {
          case 'n' -> v[0] = counter.path("packets").asLong();
          case 'o' -> v[1] = counter.path("bytes").asLong();
          case 'i' -> v[2] = counter.path("bytes").asLong();
          case 'd' -> v[3] = counter.path("packets").asLong();
          default -> { }
        }
      }
    }
    for (Map.Entry<Long, long[]> e : byChain.entrySet()) {
      if (chainsById.containsKey(e.getKey())) {
        long[] v = e.getValue();
        lastReading.put(e.getKey(), new EgressCounters(v[0], v[1], v[2], v[3]));
      }
    }
    pendingDenials = denials;
  }

  private long pendingDenials;

  private EgressCounters readChain(Chain c) {
    // The poller's reading, brought up to date when the chain goes.
    try {
      readCounters();
    } catch (IOException | RuntimeException e) {
      LOG.debug("final counter reading of chain {} failed: {}", c.id, e.toString());
    }
    return lastReading.getOrDefault(c.id, EgressCounters.ZERO);
  }

  private void reportDenials() throws IOException {
    long denials = pendingDenials;
    if (denials == lastDenials) {
      return;
    }
    lastDenials = denials;
    Set<String> present = new HashSet<>();
    for (String line : nft.run("list set " + table + " denied")) {
      for (JsonNode item : OciSpecs.JSON.readTree(line).path("nftables")) {
        for (JsonNode elem : item.path("set").path("elem")) {
          JsonNode concat = elem.path("elem").path("val").path("concat");
          if (!concat.isArray() || concat.size() != 4) {
            continue;
          }
          String key = concat.toString();
          present.add(key);
          if (reported.contains(key)) {
            continue;
          }
          String source = concat.get(0).asText();
          Attachment a = byAddress.get(source);
          if (a == null || a.container() == null || a.listener == null) {
            continue;
          }
          String destination = concat.get(1).asText() + ":" + concat.get(3).asText();
          try {
            a.listener.denied(a.container(), a.sandboxId, destination, concat.get(2).asText());
          } catch (RuntimeException e) {
            LOG.warn("egress listener failed", e);
          }
        }
      }
    }
    reported.retainAll(present);
    reported.addAll(present);
  }

  /** Tells the sandbox's listener that a name lookup was refused. */
  void deniedName(Attachment a, String what) {
    EgressListener l = a.listener;
    ContainerName c = a.container();
    if (l != null && c != null) {
      try {
        l.denied(c, a.sandboxId, what, "dns");
      } catch (RuntimeException e) {
        LOG.warn("egress listener failed", e);
      }
    }
  }

  // ---- host plumbing -----------------------------------------------------------------------

  /**
   * Runs {@code ip -b -} with these commands, in namespace {@code netns} (null: the host's).
   * A leading "-force" keeps going past failures (for cleanup).
   */
  static void ip(String netns, String... commands) throws IOException {
    List<String> cmd = new ArrayList<>(List.of("ip"));
    if (netns != null) {
      cmd.add("-n");
      cmd.add(netns);
    }
    int from = 0;
    if (commands.length > 0 && commands[0].equals("-force")) {
      cmd.add("-force");
      from = 1;
    }
    cmd.add("-b");
    cmd.add("-");
    StringBuilder input = new StringBuilder();
    for (int i = from; i < commands.length; i++) {
      input.append(commands[i]).append('\n');
    }
    try {
      HostCommand.run(cmd, input.toString());
    } catch (IOException e) {
      throw new IOException("ip " + String.join("; ", List.of(commands).subList(from, commands.length)) + ": "
          + e.getMessage(), e);
    }
  }

  private void removeLeftovers() throws IOException {
    Nft.tryRun("delete", "table", "inet", "extend_" + config.bridge());
    List<String> cleanup = new ArrayList<>();
    cleanup.add("-force");
    if (Files.isDirectory(NETNS_DIR)) {
      try (var s = Files.list(NETNS_DIR)) {
        for (Path p : (Iterable<Path>) s::iterator) {
          String name = p.getFileName().toString();
          if (name.matches(java.util.regex.Pattern.quote(config.bridge()) + "-[0-9]+")) {
            cleanup.add("netns del " + name);
          }
        }
      }
    }
    for (String link : links()) {
      if (link.startsWith(vethPrefix) || link.equals(config.bridge())) {
        cleanup.add("link del " + link);
      }
    }
    if (cleanup.size() > 1) {
      LOG.info("removing {} network leftovers of an earlier run on bridge {}", cleanup.size() - 1, config.bridge());
      try {
        ip(null, cleanup.toArray(String[]::new));
      } catch (IOException e) {
        LOG.debug("leftover cleanup: {}", e.getMessage());
      }
    }
  }

  /**
   * Removes namespaces of this bridge that no sandbox holds (a release that failed half-way).
   */
  void reconcile() {
    if (!Files.isDirectory(NETNS_DIR)) {
      return;
    }
    Set<String> held = new HashSet<>();
    synchronized (lock) {
      for (int i = used.nextSetBit(0); i >= 0; i = used.nextSetBit(i + 1)) {
        held.add(config.bridge() + "-" + i);
      }
    }
    List<String> cleanup = new ArrayList<>(List.of("-force"));
    try (var s = Files.list(NETNS_DIR)) {
      for (Path p : (Iterable<Path>) s::iterator) {
        String name = p.getFileName().toString();
        if (name.matches(java.util.regex.Pattern.quote(config.bridge()) + "-[0-9]+") && !held.contains(name)) {
          cleanup.add("netns del " + name);
        }
      }
    } catch (IOException e) {
      return;
    }
    if (cleanup.size() > 1) {
      LOG.warn("removing {} sandbox network namespaces no sandbox holds", cleanup.size() - 1);
      try {
        ip(null, cleanup.toArray(String[]::new));
      } catch (IOException e) {
        LOG.debug("namespace cleanup: {}", e.getMessage());
      }
    }
  }

  private static List<String> links() throws IOException {
    String out = HostCommand.run(List.of("ip", "-o", "link", "show"), null);
    List<String> names = new ArrayList<>();
    for (String line : out.split("\n")) {
      String[] parts = line.split(":\\s+", 3);
      if (parts.length >= 2) {
        String name = parts[1];
        int at = name.indexOf('@');
        names.add(at < 0 ? name : name.substring(0, at));
      }
    }
    return names;
  }

  /** A route of the host's (other than the bridge's) that overlaps the subnet, or null. */
  private String routeConflict() throws IOException {
    String out = HostCommand.run(List.of("ip", "-4", "-o", "route", "show", "table", "all"), null);
    for (String line : out.split("\n")) {
      String[] parts = line.trim().split("\\s+");
      if (parts.length == 0 || parts[0].isEmpty() || parts[0].equals("default") || line.contains(" dev " + config.bridge() + " ")) {
        continue;
      }
      String dest = parts[0].equals("local") || parts[0].equals("broadcast") ? (parts.length > 1 ? parts[1] : "") : parts[0];
      if (!dest.matches("[0-9.]+(/[0-9]+)?")) {
        continue;
      }
      int slash = dest.indexOf('/');
      int prefix = slash < 0 ? 32 : Integer.parseInt(dest.substring(slash + 1));
      int addr = toInt(parse(slash < 0 ? dest : dest.substring(0, slash)));
      int common = Math.min(prefix, config.prefix());
      int mask = common == 0 ? 0 : -1 << (32 - common);
      if (prefix > 0 && (addr & mask) == (config.base() & mask)) {
        return line.trim();
      }
    }
    return null;
  }

  private static String readSysctl(String name) {
    try {
      return Files.readString(Path.of("/proc/sys", name)).trim();
    } catch (IOException e) {
      return null;
    }
  }

  private static void writeSysctl(String name, String value) throws IOException {
    Files.writeString(Path.of("/proc/sys", name), value);
  }

  /** Releases one use; the last one takes the network down. */
  @Override
  public void close() {
    synchronized (SHARED) {
      if (--refs > 0) {
        return;
      }
      SHARED.remove(config.bridge(), this);
    }
    teardown();
  }

  private void teardown() {
    if (poller != null) {
      poller.shutdownNow();
    }
    if (dns != null) {
      dns.close();
    }
    if (nft != null) {
      nft.close();
    }
    List<String> cleanup = new ArrayList<>(List.of("-force"));
    for (Attachment a : List.copyOf(byAddress.values())) {
      cleanup.add("link del " + a.veth);
      cleanup.add("netns del " + a.netns);
    }
    cleanup.add("link del " + config.bridge());
    try {
      ip(null, cleanup.toArray(String[]::new));
    } catch (IOException e) {
      LOG.debug("network teardown: {}", e.getMessage());
    }
    Nft.tryRun("delete", "table", "inet", "extend_" + config.bridge());
    try {
      if (fileLock != null) {
        fileLock.release();
      }
      if (lockChannel != null) {
        lockChannel.close();
      }
    } catch (IOException e) {
      LOG.debug("releasing the bridge lock: {}", e.getMessage());
    }
  }

  // ---- addresses ---------------------------------------------------------------------------

  static int toInt(InetAddress a) {
    byte[] b = a.getAddress();
    return (b[0] & 0xff) << 24 | (b[1] & 0xff) << 16 | (b[2] & 0xff) << 8 | (b[3] & 0xff);
  }

  static String address(int v) {
    return (v >>> 24) + "." + (v >>> 16 & 0xff) + "." + (v >>> 8 & 0xff) + "." + (v & 0xff);
  }

  static Inet4Address parse(String dotted) {
    if (!dotted.matches("[0-9]{1,3}(\\.[0-9]{1,3}){3}")) {
      throw new IllegalArgumentException("not an IPv4 address: " + dotted);
    }
    try {
      return (Inet4Address) InetAddress.getByName(dotted);
    } catch (UnknownHostException e) {
      throw new IllegalArgumentException(e);
    }
  }
}
