package dev.extend.server.internal;

import org.eclipse.jetty.http.HttpStatus;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.handler.ErrorHandler;
import org.eclipse.jetty.util.Callback;

/**
 * Answers the errors Jetty produces itself (malformed or ambiguous URIs, bad headers,
 * rejections during shutdown) in the API's JSON error shape instead of HTML. A server error's
 * message is fixed, with a reference the log shows next to the cause; Java exception text
 * never reaches the client.
 */
public final class JsonErrorHandler extends ErrorHandler {
  private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(JsonErrorHandler.class);

  @Override
  public boolean handle(Request request, Response response, Callback callback) {
    Object s = request.getAttribute(ERROR_STATUS);
    int status = s instanceof Integer i ? i : response.getStatus();
    if (status < 400) {
      status = 500;
    }
    Object m = request.getAttribute(ERROR_MESSAGE);
    String message = m == null ? HttpStatus.getMessage(status) : m.toString();
    if (status >= 500) {
      // Jetty's own failures (a write that broke, a handler that threw): the cause is for the log
      String ref = Errors.reference();
      Object cause = request.getAttribute(ERROR_EXCEPTION);
      LOG.warn("{} {} answered {} [reference {}]: {}", request.getMethod(), request.getHttpURI().getPath(), status,
          ref, message, cause instanceof Throwable t ? t : null);
      message = (status == 503 ? "the server is temporarily unavailable" : "internal error") + " (reference " + ref + ")";
    } else if (looksLikeExceptionText(message)) {
      message = HttpStatus.getMessage(status);
    }
    String code = switch (status) {
      case 400 -> "bad_request";
      case 404 -> "not_found";
      case 405 -> "method_not_allowed";
      case 408 -> "request_timeout";
      case 413 -> "payload_too_large";
      case 414 -> "uri_too_long";
      case 431 -> "headers_too_large";
      case 503 -> "unavailable";
      default -> status >= 500 ? "internal_error" : "bad_request";
    };
    response.getHeaders().put(ERROR_CACHE_CONTROL);
    Json.write(response, status, Json.error(code, message), callback);
    return true;
  }

  /** Whether a message is a Java exception's text ({@code java.io.IOException: ...} or {@code FooException: ...}). */
  static boolean looksLikeExceptionText(String message) {
    int colon = message.indexOf(':');
    String head = colon < 0 ? message : message.substring(0, colon);
    return message.contains("java.") || message.contains("org.eclipse.") || head.endsWith("Exception")
        || head.endsWith("Error") || message.contains("\tat ");
  }
}
