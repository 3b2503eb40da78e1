package dev.extend;

/**
 * A newly created API token. The secret {@code token} is shown once; only its hash is stored.
 *
 * @param id the token's public id, used to revoke it
 * @param token the bearer secret
 */
public record IssuedToken(String id, String token) {}
