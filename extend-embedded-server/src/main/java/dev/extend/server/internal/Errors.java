package dev.extend.server.internal;

import dev.extend.ExtendException;
import dev.extend.UnauthorizedException;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Maps any failure to the one JSON error shape and its status. */
public final class Errors {
  private static final Logger LOG = LoggerFactory.getLogger(Errors.class);

  private Errors() {}

  /** Strips the wrappers futures add. */
  public static Throwable unwrap(Throwable t) {
    while ((t instanceof CompletionException || t instanceof ExecutionException) && t.getCause() != null) {
      t = t.getCause();
    }
    return t;
  }

  /**
   * The error to answer for a failure: Extend's own errors as they are, anything else a 500
   * {@code internal_error} (logged here, since it is a bug).
   */
  public static ExtendException of(Throwable failure) {
    Throwable t = unwrap(failure);
    if (t instanceof ExtendException e) {
      return e;
    }
    LOG.error("internal error while serving a request", t);
    return ExtendException.internal("internal error: " + t.getClass().getSimpleName(), t);
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
    } else if (e.status() == 429) {
      response.getHeaders().put(HttpHeader.RETRY_AFTER, "5");
    } else if (e.status() == 503) {
      // Capacity or storage is back soon more often than not.
      response.getHeaders().put(HttpHeader.RETRY_AFTER, "1");
    }
    Json.write(response, e.status(), Json.error(e), callback);
  }
}
