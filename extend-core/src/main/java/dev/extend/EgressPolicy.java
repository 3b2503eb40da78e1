package dev.extend;

import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Objects;

/**
 * Where a sandbox may open connections to: a mode and a list of extra allowed destinations.
 *
 * <ul>
 *   <li>{@link Mode#PUBLIC} (the default): any public unicast address; every IANA
 *       special-purpose range (see {@link #isSpecialPurpose}) and every address of the host are
 *       denied, unless an {@link #allow} entry names them.
 *   <li>{@link Mode#NONE}: no connection leaves the sandbox, and no name resolves.
 *   <li>{@link Mode#ALLOWLIST}: only the {@link #allow} entries.
 * </ul>
 *
 * <p>An entry is {@code host[:port]} or {@code CIDR[:port]} (IPv6 in brackets: {@code
 * [2001:db8::/32]:443}); a host entry matches the name a sandbox resolves (and, with a leading
 * {@code *.}, every name below it), so it allows the addresses that name has when it is looked
 * up, not the ones it had when the policy was written. Without a port every TCP port matches.
 * Entries reach TCP destinations; the only UDP a sandbox sends is DNS to the platform's
 * resolver.
 *
 * @param mode the mode
 * @param allow extra allowed destinations, at most {@value #MAX_ENTRIES}
 */
public record EgressPolicy(Mode mode, List<Rule> allow) {
  /** The most entries one policy may list. */
  public static final int MAX_ENTRIES = 256;

  /** The default: public destinations only. */
  public static final EgressPolicy PUBLIC = new EgressPolicy(Mode.PUBLIC, List.of());
  /** No egress at all. */
  public static final EgressPolicy NONE = new EgressPolicy(Mode.NONE, List.of());

  /** The three modes; their wire names are lower case. */
  public enum Mode {
    /** Public unicast destinations and the allowed entries. */
    PUBLIC,
    /** Nothing. */
    NONE,
    /** Only the allowed entries. */
    ALLOWLIST;

    /** The wire name: {@code public}, {@code none} or {@code allowlist}. */
    public String wireName() {
      return name().toLowerCase(Locale.ROOT);
    }

    /** The mode with that wire name. */
    public static Mode parse(String field, String s) {
      if (s != null) {
        for (Mode m : values()) {
          if (m.wireName().equals(s)) {
            return m;
          }
        }
      }
      throw new ValidationException(field, "must be one of public, none, allowlist");
    }
  }

  /** Checks fields; duplicates are dropped, order kept. */
  public EgressPolicy {
    Objects.requireNonNull(mode, "mode");
    allow = List.copyOf(new LinkedHashSet<>(Objects.requireNonNull(allow, "allow")));
    if (allow.size() > MAX_ENTRIES) {
      throw new ValidationException("allow", "at most " + MAX_ENTRIES + " entries");
    }
  }

  /**
   * A policy from its wire form.
   *
   * @param mode {@code public}, {@code none} or {@code allowlist}
   * @param allow entries in {@code host[:port]} / {@code CIDR[:port]} form
   * @throws ValidationException naming {@code mode} or {@code allow[i]}
   */
  public static EgressPolicy of(String mode, List<String> allow) {
    Mode m = Mode.parse("mode", mode);
    List<Rule> rules = new ArrayList<>();
    List<String> entries = allow == null ? List.of() : allow;
    if (entries.size() > MAX_ENTRIES) {
      throw new ValidationException("allow", "at most " + MAX_ENTRIES + " entries");
    }
    for (int i = 0; i < entries.size(); i++) {
      rules.add(Rule.parse("allow[" + i + "]", entries.get(i)));
    }
    return new EgressPolicy(m, rules);
  }

  /**
   * Entries from a comma-separated list (as in {@code EXTEND_EGRESS_ALLOW}); blanks are skipped.
   *
   * @param field the name to report in errors
   */
  public static List<Rule> parseList(String field, String commaSeparated) {
    List<Rule> rules = new ArrayList<>();
    if (commaSeparated == null) {
      return rules;
    }
    for (String part : commaSeparated.split(",")) {
      if (!part.isBlank()) {
        rules.add(Rule.parse(field, part.trim()));
      }
    }
    return rules;
  }

  /**
   * This policy with {@code more} entries allowed in addition (the platform's own entries); a
   * {@code none} policy stays as it is.
   */
  public EgressPolicy plus(List<Rule> more) {
    if (more.isEmpty() || mode == Mode.NONE) {
      return this; // none stays none
    }
    List<Rule> all = new ArrayList<>(allow);
    all.addAll(more);
    return new EgressPolicy(mode, all.size() > MAX_ENTRIES ? all.subList(0, MAX_ENTRIES) : all);
  }

  /** The entries in wire form. */
  public List<String> allowStrings() {
    return allow.stream().map(Rule::toString).toList();
  }

  /**
   * Whether a connection to {@code address:port} is allowed by address alone (entries that name
   * hosts are not consulted: they allow the addresses their names resolve to, which only the
   * resolver knows).
   */
  public boolean allowsAddress(InetAddress address, int port) {
    for (Rule r : allow) {
      if (r.matchesAddress(address, port)) {
        return true;
      }
    }
    return mode == Mode.PUBLIC && !isSpecialPurpose(address);
  }

  /** Whether {@code name} (lower case, no trailing dot) matches a host entry. */
  public boolean namesHost(String name) {
    for (Rule r : allow) {
      if (r.matchesName(name)) {
        return true;
      }
    }
    return false;
  }

  /** The entries naming hosts that match {@code name}. */
  public List<Rule> hostRules(String name) {
    List<Rule> out = new ArrayList<>();
    for (Rule r : allow) {
      if (r.matchesName(name)) {
        out.add(r);
      }
    }
    return out;
  }

  /** The wire form, e.g. {@code public [api.slack.com:443]}. */
  @Override
  public String toString() {
    return mode.wireName() + (allow.isEmpty() ? "" : " " + allowStrings());
  }

  // ---- entries ---------------------------------------------------------------------------

  /**
   * One allowed destination: a host name (or {@code *.suffix}) or an address range, and a TCP
   * port (0: any).
   *
   * @param host lower-case host name or {@code *.}suffix, or null for a range
   * @param network the range's first address, or null for a host
   * @param prefix the range's prefix length
   * @param port 1..65535, or 0 for any
   */
  public record Rule(String host, InetAddress network, int prefix, int port) {
    /** Checks fields. */
    public Rule {
      if ((host == null) == (network == null)) {
        throw new IllegalArgumentException("exactly one of host and network");
      }
      if (port < 0 || port > 65535) {
        throw new IllegalArgumentException("port out of range: " + port);
      }
      if (network != null) {
        int bits = network.getAddress().length * 8;
        if (prefix < 0 || prefix > bits) {
          throw new IllegalArgumentException("prefix out of range: " + prefix);
        }
        network = mask(network, prefix);
      }
    }

    /** Parses {@code host[:port]} or {@code CIDR[:port]}; {@code field} names it in errors. */
    public static Rule parse(String field, String entry) {
      if (entry == null || entry.isBlank()) {
        throw new ValidationException(field, "must not be empty");
      }
      String s = entry.trim();
      if (s.length() > 300) {
        throw new ValidationException(field, "too long");
      }
      String target;
      String portText = null;
      if (s.startsWith("[")) {
        int close = s.indexOf(']');
        if (close < 0) {
          throw new ValidationException(field, "unclosed '['");
        }
        target = s.substring(1, close);
        String rest = s.substring(close + 1);
        if (!rest.isEmpty()) {
          if (!rest.startsWith(":")) {
            throw new ValidationException(field, "expected ':port' after ']'");
          }
          portText = rest.substring(1);
        }
      } else {
        int colon = s.indexOf(':');
        if (colon >= 0 && s.indexOf(':', colon + 1) >= 0) {
          throw new ValidationException(field, "IPv6 ranges go in brackets, e.g. [2001:db8::/32]:443");
        }
        target = colon < 0 ? s : s.substring(0, colon);
        portText = colon < 0 ? null : s.substring(colon + 1);
      }
      int port = 0;
      if (portText != null) {
        if (!portText.matches("[0-9]{1,5}") || Integer.parseInt(portText) < 1 || Integer.parseInt(portText) > 65535) {
          throw new ValidationException(field, "port must be 1..65535");
        }
        port = Integer.parseInt(portText);
      }
      if (target.isEmpty()) {
        throw new ValidationException(field, "missing host or range");
      }
      int slash = target.indexOf('/');
      String addressText = slash < 0 ? target : target.substring(0, slash);
      if (isAddressLiteral(addressText)) {
        InetAddress a = literal(field, addressText);
        int bits = a.getAddress().length * 8;
        int prefix = bits;
        if (slash >= 0) {
          String p = target.substring(slash + 1);
          if (!p.matches("[0-9]{1,3}") || Integer.parseInt(p) > bits) {
            throw new ValidationException(field, "prefix length must be 0.." + bits);
          }
          prefix = Integer.parseInt(p);
        }
        return new Rule(null, a, prefix, port);
      }
      if (slash >= 0) {
        throw new ValidationException(field, "a range needs an address, e.g. 203.0.113.0/24");
      }
      String host = target.toLowerCase(Locale.ROOT);
      if (host.endsWith(".")) {
        host = host.substring(0, host.length() - 1);
      }
      String bare = host.startsWith("*.") ? host.substring(2) : host;
      if (!validHostName(bare)) {
        throw new ValidationException(field, "not a host name, address or range: " + entry);
      }
      return new Rule(host, null, 0, port);
    }

    /** Whether this entry names hosts (rather than addresses). */
    public boolean isHost() {
      return host != null;
    }

    /** Whether this entry allows {@code port} (any when the entry has none). */
    public boolean matchesPort(int p) {
      return port == 0 || port == p;
    }

    /** Whether this is a host entry matching {@code name} (lower case, no trailing dot). */
    public boolean matchesName(String name) {
      if (host == null || name == null) {
        return false;
      }
      if (host.startsWith("*.")) {
        String suffix = host.substring(1); // ".example.com"
        return name.endsWith(suffix) && name.length() > suffix.length();
      }
      return host.equals(name);
    }

    /** Whether this is a range entry holding {@code address} and allowing {@code port}. */
    public boolean matchesAddress(InetAddress address, int p) {
      if (network == null || !matchesPort(p)) {
        return false;
      }
      if (address.getAddress().length != network.getAddress().length) {
        return false;
      }
      return mask(address, prefix).equals(network);
    }

    /** The range in CIDR form, e.g. {@code 203.0.113.0/24}; null for a host entry. */
    public String cidr() {
      if (network == null) {
        return null;
      }
      return network.getHostAddress() + "/" + prefix;
    }

    /**
     * The wire form, which {@link #parse} reads back: {@code host[:port]}, {@code CIDR[:port]} or
     * {@code [v6CIDR][:port]} (IPv6 always in brackets, as parse requires); a range of one address
     * is written as the address, as it is usually given.
     */
    @Override
    public String toString() {
      String target;
      if (host != null) {
        target = host;
      } else {
        boolean single = prefix == network.getAddress().length * 8;
        String range = single ? network.getHostAddress() : cidr();
        target = network instanceof Inet6Address ? "[" + range + "]" : range;
      }
      return port == 0 ? target : target + ":" + port;
    }
  }

  // ---- addresses -------------------------------------------------------------------------

  private static final String[] SPECIAL_PURPOSE = {
      // IPv4 (IANA IPv4 Special-Purpose Address Registry, and multicast and reserved space)
      "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
      "192.0.0.0/24", "192.0.2.0/24", "192.31.196.0/24", "192.52.193.0/24", "192.88.99.0/24",
      "192.168.0.0/16", "192.175.48.0/24", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24",
      "224.0.0.0/4", "240.0.0.0/4",
      // IPv6 (IANA IPv6 Special-Purpose Address Registry, and multicast)
      "::/128", "::1/128", "::ffff:0:0/96", "64:ff9b::/96", "64:ff9b:1::/48", "100::/64", "2001::/23",
      "2001:db8::/32", "2002::/16", "3fff::/20", "5f00::/16", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8",
  };
  private static final List<Rule> SPECIAL = special();

  private static List<Rule> special() {
    List<Rule> out = new ArrayList<>();
    for (String s : SPECIAL_PURPOSE) {
      if (s.startsWith("::ffff:")) {
        continue; // Java reads IPv4-mapped addresses as IPv4: the IPv4 ranges cover them
      }
      out.add(Rule.parse("special", s.contains(":") ? "[" + s + "]" : s));
    }
    return List.copyOf(out);
  }

  /**
   * The IANA special-purpose ranges (IPv4 and IPv6) plus multicast and reserved space: what the
   * {@code public} mode denies. IPv4 ranges come first.
   */
  public static List<String> specialPurposeRanges() {
    return List.of(SPECIAL_PURPOSE);
  }

  /** Whether {@code address} lies in a special-purpose range (so {@code public} denies it). */
  public static boolean isSpecialPurpose(InetAddress address) {
    for (Rule r : SPECIAL) {
      if (r.matchesAddress(address, 0)) {
        return true;
      }
    }
    return false;
  }

  private static boolean isAddressLiteral(String s) {
    return s.matches("[0-9]{1,3}(\\.[0-9]{1,3}){3}") || s.contains(":") && s.matches("[0-9A-Fa-f:.]+");
  }

  private static InetAddress literal(String field, String s) {
    try {
      if (!s.contains(":")) {
        for (String octet : s.split("\\.")) {
          if (Integer.parseInt(octet) > 255) {
            throw new ValidationException(field, "not an address: " + s);
          }
        }
      }
      return InetAddress.getByName(s); // a literal: no lookup
    } catch (UnknownHostException e) {
      throw new ValidationException(field, "not an address: " + s);
    }
  }

  private static boolean validHostName(String h) {
    if (h.isEmpty() || h.length() > 253) {
      return false;
    }
    for (String label : h.split("\\.", -1)) {
      if (!label.matches("[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?")) {
        return false;
      }
    }
    return !h.matches("[0-9.]+");
  }

  private static InetAddress mask(InetAddress a, int prefix) {
    byte[] b = a.getAddress();
    for (int i = 0; i < b.length; i++) {
      int keep = Math.max(0, Math.min(8, prefix - i * 8));
      b[i] &= (byte) (0xff << (8 - keep));
    }
    try {
      return b.length == 4 ? (Inet4Address) InetAddress.getByAddress(b) : InetAddress.getByAddress(b);
    } catch (UnknownHostException e) {
      throw new IllegalStateException(e);
    }
  }
}
