// Node-API bindings. Every function reads and writes the Float32Arrays of tfjs's cpu data store in
// place (napi_get_typedarray_info gives the backing memory): no copies cross the boundary.
#include <node_api.h>

#include <cstdint>
#include <string>

#include "elementwise.h"
#include "gemm.h"
#include "pool.h"

namespace {

using diffprune::batch_matmul;

bool throw_if(napi_env env, bool failed, const char* message) {
  if (failed) napi_throw_error(env, "DIFFPRUNE_NATIVE", message);
  return failed;
}

struct Args {
  napi_value values[16];
  size_t count = 16;
};

bool get_args(napi_env env, napi_callback_info info, Args& args, size_t expected) {
  if (napi_get_cb_info(env, info, &args.count, args.values, nullptr, nullptr) != napi_ok) return false;
  return !throw_if(env, args.count < expected, "diffprune native: too few arguments");
}

template <typename T>
bool get_array(napi_env env, napi_value value, napi_typedarray_type want, T** data, size_t* length) {
  bool is_typed = false;
  napi_is_typedarray(env, value, &is_typed);
  if (throw_if(env, !is_typed, "diffprune native: expected a typed array")) return false;
  napi_typedarray_type type;
  void* raw = nullptr;
  if (napi_get_typedarray_info(env, value, &type, length, &raw, nullptr, nullptr) != napi_ok) return false;
  if (throw_if(env, type != want, "diffprune native: typed array of the wrong type")) return false;
  *data = static_cast<T*>(raw);
  return true;
}

bool get_int(napi_env env, napi_value value, int64_t* out) {
  return !throw_if(env, napi_get_value_int64(env, value, out) != napi_ok, "diffprune native: expected a number");
}

bool get_bool(napi_env env, napi_value value, bool* out) {
  return !throw_if(env, napi_get_value_bool(env, value, out) != napi_ok, "diffprune native: expected a boolean");
}

napi_value make_int(napi_env env, int64_t value) {
  napi_value out;
  napi_create_int64(env, value, &out);
  return out;
}

napi_value make_string(napi_env env, const char* value) {
  napi_value out;
  napi_create_string_utf8(env, value, NAPI_AUTO_LENGTH, &out);
  return out;
}

// matmul(a, b, out, batch, batchA, batchB, m, n, k, transposeA, transposeB)
napi_value Matmul(napi_env env, napi_callback_info info) {
  Args args;
  if (!get_args(env, info, args, 11)) return nullptr;
  float *a, *b, *c;
  size_t a_len, b_len, c_len;
  int64_t batch, batch_a, batch_b, m, n, k;
  bool ta, tb;
  if (!get_array(env, args.values[0], napi_float32_array, &a, &a_len) ||
      !get_array(env, args.values[1], napi_float32_array, &b, &b_len) ||
      !get_array(env, args.values[2], napi_float32_array, &c, &c_len) || !get_int(env, args.values[3], &batch) ||
      !get_int(env, args.values[4], &batch_a) || !get_int(env, args.values[5], &batch_b) ||
      !get_int(env, args.values[6], &m) || !get_int(env, args.values[7], &n) || !get_int(env, args.values[8], &k) ||
      !get_bool(env, args.values[9], &ta) || !get_bool(env, args.values[10], &tb))
    return nullptr;
  if (throw_if(env, batch_a < 1 || batch_b < 1 || m < 0 || n < 0 || k < 0 ||
                        static_cast<size_t>(batch_a * m * k) > a_len || static_cast<size_t>(batch_b * k * n) > b_len ||
                        static_cast<size_t>(batch * m * n) > c_len,
               "diffprune native: matmul sizes do not match the arrays"))
    return nullptr;
  batch_matmul(a, b, c, static_cast<int>(batch), static_cast<int>(batch_a), static_cast<int>(batch_b),
               static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), ta, tb);
  return nullptr;
}

// segmentSum(values, ids, out, inner): out must be zeroed.
napi_value SegmentSum(napi_env env, napi_callback_info info) {
  Args args;
  if (!get_args(env, info, args, 4)) return nullptr;
  float *values, *out;
  int32_t* ids;
  size_t values_len, ids_len, out_len;
  int64_t inner;
  if (!get_array(env, args.values[0], napi_float32_array, &values, &values_len) ||
      !get_array(env, args.values[1], napi_int32_array, &ids, &ids_len) ||
      !get_array(env, args.values[2], napi_float32_array, &out, &out_len) || !get_int(env, args.values[3], &inner))
    return nullptr;
  if (throw_if(env, inner < 1 || ids_len * inner > values_len || out_len % inner != 0,
               "diffprune native: segmentSum sizes do not match the arrays"))
    return nullptr;
  diffprune::segment_sum(values, ids, static_cast<std::ptrdiff_t>(ids_len), inner,
                         static_cast<std::ptrdiff_t>(out_len / inner), out);
  return nullptr;
}

napi_value SetThreads(napi_env env, napi_callback_info info) {
  Args args;
  if (!get_args(env, info, args, 1)) return nullptr;
  int64_t threads;
  if (!get_int(env, args.values[0], &threads)) return nullptr;
  if (throw_if(env, threads < 1 || threads > 256, "diffprune native: threads must be in [1, 256]")) return nullptr;
  return make_int(env, diffprune::set_threads(static_cast<int>(threads)));
}

napi_value Threads(napi_env env, napi_callback_info) { return make_int(env, diffprune::get_threads()); }

napi_value GemmKernel(napi_env env, napi_callback_info) { return make_string(env, diffprune::gemm_kernel_name()); }

napi_value SetGemmKernel(napi_env env, napi_callback_info info) {
  Args args;
  if (!get_args(env, info, args, 1)) return nullptr;
  char name[32];
  size_t length = 0;
  if (throw_if(env, napi_get_value_string_utf8(env, args.values[0], name, sizeof name, &length) != napi_ok,
               "diffprune native: expected a kernel name"))
    return nullptr;
  napi_value out;
  napi_get_boolean(env, diffprune::set_gemm_kernel(name), &out);
  return out;
}

}  // namespace

NAPI_MODULE_INIT() {
  const napi_property_descriptor properties[] = {
      {"matmul", nullptr, Matmul, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"segmentSum", nullptr, SegmentSum, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"setThreads", nullptr, SetThreads, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"threads", nullptr, Threads, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"gemmKernel", nullptr, GemmKernel, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"setGemmKernel", nullptr, SetGemmKernel, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof properties / sizeof properties[0], properties);
  return exports;
}
