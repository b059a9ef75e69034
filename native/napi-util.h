/*
 * Helpers shared by the addon's C files (lvsd.c, probe.c): Node-style errors and argument checks.
 * Each file gets its own copy (static inline); none keeps state.
 */
#ifndef LVSD_NAPI_UTIL_H
#define LVSD_NAPI_UTIL_H
#define NAPI_VERSION 8
#include <node_api.h>
#include <uv.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <stdbool.h>

static inline napi_value throw_errno(napi_env env, const char *fn, const char *syscall, const char *detail,
                              int err) {
  char msg[320];
  const char *name = uv_err_name(-err);
  if (detail != NULL && detail[0] != '\0')
    snprintf(msg, sizeof msg, "%s: %s %s %s (%s)", fn, syscall, detail, name, strerror(err));
  else
    snprintf(msg, sizeof msg, "%s: %s %s (%s)", fn, syscall, name, strerror(err));
  napi_value msg_v, code_v, err_v, errno_v, syscall_v;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &msg_v);
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &code_v);
  napi_create_error(env, code_v, msg_v, &err_v);
  napi_create_int32(env, -err, &errno_v);
  napi_set_named_property(env, err_v, "errno", errno_v);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &syscall_v);
  napi_set_named_property(env, err_v, "syscall", syscall_v);
  napi_throw(env, err_v);
  return NULL;
}

static inline napi_value throw_type(napi_env env, const char *fn, const char *what) {
  char msg[200];
  snprintf(msg, sizeof msg, "%s: %s", fn, what);
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
  return NULL;
}

static inline napi_value throw_range(napi_env env, const char *fn, const char *what) {
  char msg[200];
  snprintf(msg, sizeof msg, "%s: %s", fn, what);
  napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
  return NULL;
}

static inline int get_i32(napi_env env, napi_value v, int32_t *out) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_number) return 0;
  return napi_get_value_int32(env, v, out) == napi_ok;
}

static inline int get_u32(napi_env env, napi_value v, uint32_t *out) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_number) return 0;
  return napi_get_value_uint32(env, v, out) == napi_ok;
}

/* A typed array of the given element type; *len is the element count. */
static inline int get_typed(napi_env env, napi_value v, napi_typedarray_type want, void **data,
                     size_t *len) {
  bool is;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) return 0;
  napi_typedarray_type type;
  napi_value ab;
  size_t off;
  if (napi_get_typedarray_info(env, v, &type, len, data, &ab, &off) != napi_ok) return 0;
  return type == want;
}

static inline int get_bytes(napi_env env, napi_value v, uint8_t **data, size_t *len) {
  void *p = NULL;
  if (!get_typed(env, v, napi_uint8_array, &p, len)) return 0;
  *data = (uint8_t *)p;
  return 1;
}

/* buf, offset, length -> pointer into buf after checking the range */
static inline int get_range(napi_env env, const char *fn, napi_value *argv, uint8_t **p, size_t *n) {
  uint8_t *data;
  size_t len;
  int32_t off, cnt;
  if (!get_bytes(env, argv[0], &data, &len)) {
    throw_type(env, fn, "buf must be a Uint8Array");
    return 0;
  }
  if (!get_i32(env, argv[1], &off) || !get_i32(env, argv[2], &cnt)) {
    throw_type(env, fn, "offset and length must be numbers");
    return 0;
  }
  if (off < 0 || cnt < 0 || (size_t)off + (size_t)cnt > len) {
    throw_range(env, fn, "offset/length outside the buffer");
    return 0;
  }
  *p = data + off;
  *n = (size_t)cnt;
  return 1;
}

/* Up to N arguments into argv (missing ones undefined), at least MIN of them. */
#define ARGS_MIN(N, MIN)                                                                        \
  size_t argc = (N);                                                                            \
  napi_value argv[(N) > 0 ? (N) : 1];                                                           \
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);                                         \
  if (argc < (MIN)) return throw_type(env, FN, "missing arguments")

#define ARGS(N) ARGS_MIN(N, N)

#define INT_ARG(i, var)                                                                         \
  int32_t var;                                                                                  \
  if (!get_i32(env, argv[i], &var)) return throw_type(env, FN, #var " must be a number")

static inline napi_value make_i32(napi_env env, int32_t v) {
  napi_value r;
  napi_create_int32(env, v, &r);
  return r;
}

static inline napi_value make_undefined(napi_env env) {
  napi_value r;
  napi_get_undefined(env, &r);
  return r;
}

static inline void export_fn(napi_env env, napi_value exports, const char *name, napi_callback cb) {
  napi_value fn;
  napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, NULL, &fn);
  napi_set_named_property(env, exports, name, fn);
}

/* probe.c: the health checker's stream probes (probeOpen ... probeClose) */
void probe_register(napi_env env, napi_value exports);

#endif
