package dev.extend.server.internal;

import org.eclipse.jetty.http.HttpStatus;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.handler.ErrorHandler;
import org.eclipse.jetty.util.Callback;

/**
 * Answers the errors Jetty produces itself (malformed or ambiguous URIs, bad headers,
 * rejections during shutdown) in the API's JSON error shape instead of HTML.
 */
public final class JsonErrorHandler extends ErrorHandler {
  @Override
  public boolean handle(Request request, Response response, Callback callback) {
    Object s = request.getAttribute(ERROR_STATUS);
    int status = s instanceof Integer i ? i : response.getStatus();
    if (status < 400) {
      status = 500;
    }
    Object m = request.getAttribute(ERROR_MESSAGE);
    String message = m == null ? HttpStatus.getMessage(status) : m.toString();
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
}
