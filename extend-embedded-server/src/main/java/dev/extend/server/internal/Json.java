package dev.extend.server.internal;

import com.fasterxml.jackson.core.JsonParseException;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.MapperFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.cfg.CoercionAction;
import com.fasterxml.jackson.databind.cfg.CoercionInputShape;
import com.fasterxml.jackson.databind.type.LogicalType;
import com.fasterxml.jackson.databind.exc.UnrecognizedPropertyException;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.extend.ExtendException;
import dev.extend.ModuleStatus;
import dev.extend.ModulesNotReadyException;
import dev.extend.ValidationException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import org.eclipse.jetty.http.HttpField;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.http.PreEncodedHttpField;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;

/** The server's one JSON mapper (strict on input) and the one error shape. */
public final class Json {
  /**
   * Strict: unknown fields, wrong scalar types, floats for integers, nulls for primitives and
   * trailing tokens all fail, so that a typo never silently drops a setting.
   */
  public static final ObjectMapper MAPPER = JsonMapper.builder()
      .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
      .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES)
      .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
      .disable(DeserializationFeature.ACCEPT_FLOAT_AS_INT)
      .disable(MapperFeature.ALLOW_COERCION_OF_SCALARS)
      .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
      .disable(SerializationFeature.FAIL_ON_EMPTY_BEANS)
      .withCoercionConfig(LogicalType.Textual, c -> c
          .setCoercion(CoercionInputShape.Integer, CoercionAction.Fail)
          .setCoercion(CoercionInputShape.Float, CoercionAction.Fail)
          .setCoercion(CoercionInputShape.Boolean, CoercionAction.Fail))
      .build();

  static final HttpField CONTENT_TYPE_JSON =
      new PreEncodedHttpField(HttpHeader.CONTENT_TYPE, "application/json");

  private Json() {}

  /** Parses a request body into {@code type}; failures become a 400 naming the field. */
  public static <T> T parse(byte[] body, Class<T> type) {
    if (body.length == 0) {
      throw new ValidationException("body", "is required (a JSON object)");
    }
    try {
      return MAPPER.readValue(body, type);
    } catch (UnrecognizedPropertyException e) {
      throw new ValidationException(path(e), "unknown field");
    } catch (JsonParseException e) {
      throw new ValidationException("body", "is not valid JSON: " + e.getOriginalMessage());
    } catch (JsonMappingException e) {
      // A ValidationException thrown by a value type's constructor arrives wrapped.
      Throwable cause = e.getCause();
      while (cause != null) {
        if (cause instanceof ExtendException ee) {
          throw ee;
        }
        cause = cause.getCause();
      }
      String field = path(e);
      throw new ValidationException(field.isEmpty() ? "body" : field, describe(e));
    } catch (JsonProcessingException e) {
      throw new ValidationException("body", "is not valid JSON: " + e.getOriginalMessage());
    } catch (IOException e) {
      throw new ValidationException("body", "could not be read: " + e.getMessage());
    }
  }

  private static String describe(JsonMappingException e) {
    String m = e.getOriginalMessage();
    if (m != null && m.startsWith("Cannot deserialize value of type")) {
      int from = m.indexOf('`');
      int to = from < 0 ? -1 : m.indexOf('`', from + 1);
      String type = from >= 0 && to > from ? m.substring(from + 1, to) : "";
      return "has the wrong type (expected " + simpleType(type) + ")";
    }
    if (m != null && m.contains("Cannot coerce")) {
      return "has the wrong type";
    }
    if (m != null && m.contains("No content to map")) {
      return "is required (a JSON object)";
    }
    return "is invalid: " + (m == null ? e.getClass().getSimpleName() : firstLine(m));
  }

  private static String simpleType(String javaType) {
    if (javaType.contains("Map") || javaType.endsWith("Body")) {
      return "an object";
    }
    if (javaType.contains("List") || javaType.contains("[]")) {
      return "an array";
    }
    if (javaType.contains("String")) {
      return "a string";
    }
    if (javaType.contains("Long") || javaType.contains("Integer") || javaType.equals("long")
        || javaType.equals("int")) {
      return "an integer";
    }
    if (javaType.contains("Boolean")) {
      return "a boolean";
    }
    return javaType.isEmpty() ? "another type" : javaType;
  }

  private static String firstLine(String s) {
    int nl = s.indexOf('\n');
    return nl < 0 ? s : s.substring(0, nl);
  }

  /** The dotted path of the field a mapping error is about, e.g. {@code limits.timeoutMs}. */
  static String path(JsonMappingException e) {
    StringBuilder sb = new StringBuilder();
    for (JsonMappingException.Reference r : e.getPath()) {
      if (r.getFieldName() != null) {
        if (sb.length() > 0) {
          sb.append('.');
        }
        sb.append(r.getFieldName());
      } else if (r.getIndex() >= 0) {
        sb.append('[').append(r.getIndex()).append(']');
      }
    }
    return sb.toString();
  }

  /** Serializes a value. */
  public static byte[] bytes(Object value) {
    try {
      return MAPPER.writeValueAsBytes(value);
    } catch (JsonProcessingException e) {
      throw ExtendException.internal("could not serialize a response", e);
    }
  }

  /** Writes a JSON response and completes the callback. */
  public static void write(Response response, int status, Object body, Callback callback) {
    write(response, status, bytes(body), callback);
  }

  /** Writes pre-serialized JSON and completes the callback. */
  public static void write(Response response, int status, byte[] body, Callback callback) {
    response.setStatus(status);
    response.getHeaders().put(CONTENT_TYPE_JSON);
    response.getHeaders().put(HttpHeader.CONTENT_LENGTH, body.length);
    response.write(true, ByteBuffer.wrap(body), callback);
  }

  /** The body of an error: {@code {"error":{"code","message"[,"modules"]}}}. */
  public static ObjectNode error(ExtendException e) {
    ObjectNode root = MAPPER.createObjectNode();
    ObjectNode err = root.putObject("error");
    err.put("code", e.code());
    err.put("message", e.getMessage());
    if (e instanceof ModulesNotReadyException mnr) {
      ArrayNode modules = err.putArray("modules");
      for (ModuleStatus m : mnr.modules()) {
        ObjectNode n = modules.addObject();
        n.put("name", m.module().name());
        n.put("version", m.module().version());
        // states only: a build log belongs to the module's page, for those allowed to read it
        n.put("state", m.state().wire());
      }
    }
    if (e instanceof ValidationException ve) {
      err.put("field", ve.field());
    }
    if (e instanceof dev.extend.FunctionErrorException fe && fe.errorName() != null) {
      err.put("name", fe.errorName());
    }
    return root;
  }

  /** A minimal error body for a code and message. */
  public static byte[] error(String code, String message) {
    ObjectNode root = MAPPER.createObjectNode();
    ObjectNode err = root.putObject("error");
    err.put("code", code);
    err.put("message", message);
    return bytes(root);
  }

  /** UTF-8 bytes. */
  static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }
}
