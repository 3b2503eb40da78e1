package dev.extend.server.internal;

import dev.extend.ExtendException;
import dev.extend.FunctionErrorException;
import dev.extend.UnauthorizedException;
import dev.extend.UnavailableException;
import java.security.SecureRandom;
import java.util.HexFormat;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Maps any failure to the one JSON error shape and its status.
 *
 * <p>What a client reads is written for clients: user faults keep their messages (they name
 * the field or the resource), and so do the tenant's own errors and timeouts; but a platform
 * fault (a bug, 500; the platform unavailable, 503; a sandbox that broke off a call, 502) is
 * answered with a fixed message and a reference, and the real cause, which may name host
 * paths, sandbox ids, databases or Java exceptions, goes to the server log next to that same
 * reference.
 */
public final class Errors {
  private static final Logger LOG = LoggerFactory.getLogger(Errors.class);
  private static final SecureRandom RANDOM = new SecureRandom();

  private Errors() {}

  /** An unavailability whose message the server wrote for clients (no cause, no detail). */
  public static final class Unavailable extends UnavailableException {
    private static final long serialVersionUID = 1L;

    /** Creates the error. */
    public Unavailable(String message) {
      super(message);
    }
  }

  /** Strips the wrappers futures add. */
  public static Throwable unwrap(Throwable t) {
    while ((t instanceof CompletionException || t instanceof ExecutionException) && t.getCause() != null) {
      t = t.getCause();
    }
    return t;
  }

  /** A new correlation reference: what a client quotes and the server log shows. */
  public static String reference() {
    byte[] b = new byte[6];
    RANDOM.nextBytes(b);
    return HexFormat.of().formatHex(b);
  }

  /**
   * The error a client is answered for a failure: Extend's user faults as they are; anything
   * else with a fixed message and a reference, the real cause logged with that reference.
   */
  public static ExtendException of(Throwable failure) {
    Throwable t = unwrap(failure);
    if (!(t instanceof ExtendException e)) {
      String ref = reference();
      LOG.error("internal error [reference {}] while serving a request", ref, t);
      return new ExtendException("internal_error", 500, "internal error (reference " + ref + ")");
    }
    if (e.status() == 500) {
      String ref = reference();
      LOG.error("internal error [reference {}]: {}", ref, e.getMessage(), e.getCause() != null ? e.getCause() : e);
      return new ExtendException(e.code(), 500, "internal error (reference " + ref + ")");
    }
    if (e.status() == 503 && !(e instanceof Unavailable)) {
      String ref = reference();
      LOG.warn("unavailable [reference {}]: {}", ref, e.getMessage(), e.getCause());
      return new UnavailableException("the platform is temporarily unavailable; retry (reference " + ref + ")");
    }
    if (e instanceof FunctionErrorException f && platformMade(f)) {
      String ref = reference();
      LOG.warn("sandbox failure [reference {}]: {}", ref, e.getMessage());
      return new FunctionErrorException(f.errorName(), "the webhook's sandbox "
          + ("SandboxExit".equals(f.errorName()) ? "ended" : "broke off the call")
          + " while serving it; it is replaced (reference " + ref + ")");
    }
    return e;
  }

  /** The 502s the platform writes about a sandbox (the tenant's own errors have other names). */
  private static boolean platformMade(FunctionErrorException f) {
    return "SandboxExit".equals(f.errorName()) || "SandboxError".equals(f.errorName());
  }

  /** Answers the failure as JSON, or aborts the exchange when the response is already committed. */
  public static void send(Response response, Callback callback, Throwable failure) {
    ExtendException e = of(failure);
    if (response.isCommitted()) {
      callback.failed(e);
      return;
    }
    try {
      response.reset();
    } catch (IllegalStateException alreadyCommitted) {
      callback.failed(e);
      return;
    }
    if (e instanceof UnauthorizedException) {
      response.getHeaders().put(HttpHeader.WWW_AUTHENTICATE, "Bearer realm=\"extend\"");
    } else if (e.status() == 408) {
      // The rest of a body that came too slowly is not read: the connection cannot carry on.
      response.getHeaders().put(HttpHeader.CONNECTION, "close");
    } else if (e instanceof dev.extend.TooManyRequestsException t) {
      response.getHeaders().put(HttpHeader.RETRY_AFTER, Integer.toString(t.retryAfterSeconds()));
    } else if (e.status() == 429) {
      response.getHeaders().put(HttpHeader.RETRY_AFTER, "5");
    } else if (e.status() == 503) {
      // Capacity or storage is back soon more often than not.
      response.getHeaders().put(HttpHeader.RETRY_AFTER, "1");
    }
    Json.write(response, e.status(), Json.error(e), callback);
  }
}
