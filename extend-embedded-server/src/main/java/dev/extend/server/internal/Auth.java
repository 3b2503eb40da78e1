package dev.extend.server.internal;

import dev.extend.ContainerName;
import dev.extend.ForbiddenException;
import dev.extend.ServerlessPlatform;
import dev.extend.UnauthorizedException;
import dev.extend.spi.TokenRecord;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Optional;
import java.util.Set;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.server.Request;

/**
 * Bearer-token authentication: the configured admin token (compared in constant time), or a
 * token the platform issued (admin when it names no container, else scoped to its containers).
 */
public final class Auth {
  /** Who is calling: an admin, or a token scoped to some containers. */
  public record Principal(String tokenId, Set<ContainerName> containers) {
    /** Whether this caller may use admin-only routes and every container. */
    public boolean admin() {
      return containers.isEmpty();
    }

    /** Throws 403 unless this caller may act on {@code container}. */
    public void requireContainer(ContainerName container) {
      if (!admin() && !containers.contains(container)) {
        throw new ForbiddenException("this token does not grant container '" + container + "'");
      }
    }

    /** Throws 403 unless this caller is an admin. */
    public void requireAdmin() {
      if (!admin()) {
        throw new ForbiddenException("this route needs an admin token");
      }
    }
  }

  private static final Principal CONFIGURED_ADMIN = new Principal("admin", Set.of());

  /**
   * How long a token checked on {@code /run} is trusted without asking the store again. A
   * revocation made through this node takes effect at once; one made elsewhere within this.
   */
  public static final java.time.Duration RUN_CACHE_TTL = java.time.Duration.ofSeconds(2);

  private final ServerlessPlatform platform;
  private final byte[] adminTokenHash;
  private final com.github.benmanes.caffeine.cache.Cache<String, Principal> runCache =
      com.github.benmanes.caffeine.cache.Caffeine.newBuilder()
          .maximumSize(10_000)
          .expireAfterWrite(RUN_CACHE_TTL)
          .build();

  /**
   * Creates the authenticator.
   *
   * @param platform issues and checks scoped tokens
   * @param adminToken the configured admin token, or null for none
   */
  public Auth(ServerlessPlatform platform, String adminToken) {
    this.platform = platform;
    this.adminTokenHash = adminToken == null ? null : sha256(adminToken);
  }

  /**
   * Authenticates a request.
   *
   * @throws UnauthorizedException when the token is missing, malformed, unknown or revoked
   */
  public Principal authenticate(Request request) {
    return authenticate(request, false);
  }

  /**
   * Authenticates a run request: like {@link #authenticate(Request)}, but a token found valid
   * is trusted for {@link #RUN_CACHE_TTL} without a store lookup, to keep the hot path short.
   */
  public Principal authenticateRun(Request request) {
    return authenticate(request, true);
  }

  /** Forgets a revoked token at once (it may still be cached for runs). */
  public void revoked(String tokenId) {
    runCache.asMap().values().removeIf(p -> p.tokenId().equals(tokenId));
  }

  /**
   * The bearer secret of an authenticated request when it is a token the platform issued
   * (which may be revoked later), or null for the configured admin token.
   */
  public String revocableBearer(Request request) {
    String header = request.getHeaders().get(HttpHeader.AUTHORIZATION);
    if (header == null || header.length() < 8) {
      return null;
    }
    String token = header.substring(7).trim();
    if (adminTokenHash != null && MessageDigest.isEqual(adminTokenHash, sha256(token))) {
      return null;
    }
    return token;
  }

  /** Forgets every token trusted for runs (after a deletion that revoked several). */
  public void forgetAll() {
    runCache.invalidateAll();
  }

  private Principal authenticate(Request request, boolean cached) {
    String header = request.getHeaders().get(HttpHeader.AUTHORIZATION);
    if (header == null) {
      throw new UnauthorizedException("missing 'Authorization: Bearer <token>' header");
    }
    if (header.length() < 8 || !header.regionMatches(true, 0, "Bearer ", 0, 7)) {
      throw new UnauthorizedException("the Authorization header must be 'Bearer <token>'");
    }
    String token = header.substring(7).trim();
    if (token.isEmpty()) {
      throw new UnauthorizedException("the bearer token is empty");
    }
    // Hashing both sides first makes the comparison constant-time whatever the lengths.
    byte[] hash = sha256(token);
    if (adminTokenHash != null && MessageDigest.isEqual(adminTokenHash, hash)) {
      return CONFIGURED_ADMIN;
    }
    String key = cached ? java.util.HexFormat.of().formatHex(hash) : null;
    if (cached) {
      Principal known = runCache.getIfPresent(key);
      if (known != null) {
        return known;
      }
    }
    Optional<TokenRecord> record = platform.authenticate(token);
    if (record.isEmpty()) {
      throw new UnauthorizedException("the bearer token is invalid or revoked");
    }
    Principal principal = new Principal(record.get().id(), record.get().containers());
    if (cached) {
      runCache.put(key, principal);
    }
    return principal;
  }

  private static byte[] sha256(String s) {
    try {
      return MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("SHA-256 is not available", e);
    }
  }
}
