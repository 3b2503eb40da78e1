/* A native addon: answers a fixed string and the Node.js ABI its headers were for. */
#include <node_api.h>
#include <node_version.h>

static napi_value hello(napi_env env, napi_callback_info info) {
  napi_value out;
  napi_create_string_utf8(env, "native hello", NAPI_AUTO_LENGTH, &out);
  return out;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_value abi;
  napi_create_function(env, "hello", NAPI_AUTO_LENGTH, hello, NULL, &fn);
  napi_set_named_property(env, exports, "hello", fn);
  napi_create_int32(env, NODE_MODULE_VERSION, &abi);
  napi_set_named_property(env, exports, "builtForAbi", abi);
  return exports;
}
