package dev.extend;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.BiConsumer;

/**
 * Immutable HTTP headers: names are case-insensitive (kept in lower case), each name may
 * carry several values in order.
 */
public final class Headers {
  /** No headers. */
  public static final Headers EMPTY = new Headers(new TreeMap<>());

  private final Map<String, List<String>> values;

  private Headers(TreeMap<String, List<String>> values) {
    this.values = Collections.unmodifiableMap(values);
  }

  /** Whether {@code s} is an HTTP token (RFC 9110), as header names and methods are. */
  public static boolean isToken(String s) {
    int n = s.length();
    if (n == 0) {
      return false;
    }
    for (int i = 0; i < n; i++) {
      char c = s.charAt(i);
      if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
          || "!#$%&'*+-.^_`|~".indexOf(c) >= 0)) {
        return false;
      }
    }
    return true;
  }

  /** Starts an empty builder. */
  public static Builder builder() {
    return new Builder();
  }

  /** Headers from name/value pairs: {@code Headers.of("content-type", "text/plain")}. */
  public static Headers of(String... nameValuePairs) {
    if (nameValuePairs.length % 2 != 0) {
      throw new IllegalArgumentException("name/value pairs expected");
    }
    Builder b = builder();
    for (int i = 0; i < nameValuePairs.length; i += 2) {
      b.add(nameValuePairs[i], nameValuePairs[i + 1]);
    }
    return b.build();
  }

  /** The first value of a header, or null. */
  public String first(String name) {
    List<String> v = values.get(name.toLowerCase(Locale.ROOT));
    return v == null || v.isEmpty() ? null : v.get(0);
  }

  /** All values of a header, possibly empty. */
  public List<String> all(String name) {
    List<String> v = values.get(name.toLowerCase(Locale.ROOT));
    return v == null ? List.of() : v;
  }

  /** The header names, lower case, sorted. */
  public Set<String> names() {
    return values.keySet();
  }

  /** Calls {@code action} once per value, in name order. */
  public void forEach(BiConsumer<String, String> action) {
    values.forEach((name, vs) -> vs.forEach(v -> action.accept(name, v)));
  }

  /** The headers as an unmodifiable map of lower-case name to values. */
  public Map<String, List<String>> asMap() {
    return values;
  }

  /** A builder seeded with these headers. */
  public Builder toBuilder() {
    Builder b = builder();
    forEach(b::add);
    return b;
  }

  @Override
  public String toString() {
    return values.toString();
  }

  /** Builds {@link Headers}. */
  public static final class Builder {
    private final TreeMap<String, List<String>> values = new TreeMap<>();

    private Builder() {}

    /** Adds a value. */
    public Builder add(String name, String value) {
      values.computeIfAbsent(name.toLowerCase(Locale.ROOT), k -> new ArrayList<>(1)).add(value);
      return this;
    }

    /** Replaces all values of a header. */
    public Builder set(String name, String value) {
      List<String> l = new ArrayList<>(1);
      l.add(value);
      values.put(name.toLowerCase(Locale.ROOT), l);
      return this;
    }

    /** Removes a header. */
    public Builder remove(String name) {
      values.remove(name.toLowerCase(Locale.ROOT));
      return this;
    }

    /** Builds the headers. */
    public Headers build() {
      TreeMap<String, List<String>> copy = new TreeMap<>();
      values.forEach((k, v) -> copy.put(k, List.copyOf(v)));
      return new Headers(copy);
    }
  }
}
