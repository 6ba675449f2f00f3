// Node-API bindings. Every function reads and writes the Float32Arrays of tfjs's cpu data store in
// place (napi_get_typedarray_info gives the backing memory): no copies cross the boundary.
#include <node_api.h>

#if defined(__GLIBC__) || defined(__linux__)
#include <malloc.h>
#endif

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "dropout.h"
#include "elementwise.h"
#include "gate.h"
#include "gemm.h"
#include "pool.h"
#include "sparse_delta.h"

namespace {

using diffprune::batch_matmul;

bool throw_if(napi_env env, bool failed, const char* message) {
  if (failed) napi_throw_error(env, "DIFFPRUNE_NATIVE", message);
  return failed;
}

struct Args {
  napi_value values[24];
  size_t count = 24;
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

// A float32 array argument that may be null or undefined (→ nullptr).
bool get_optional_floats(napi_env env, napi_value value, float** data, size_t* length) {
  napi_valuetype type;
  napi_typeof(env, value, &type);
  if (type == napi_null || type == napi_undefined) {
    *data = nullptr;
    *length = 0;
    return true;
  }
  return get_array(env, value, napi_float32_array, data, length);
}

bool get_doubles(napi_env env, const Args& args, size_t first, size_t count, double* out) {
  for (size_t i = 0; i < count; ++i)
    if (throw_if(env, napi_get_value_double(env, args.values[first + i], &out[i]) != napi_ok,
                 "diffprune native: expected a number"))
      return false;
  return true;
}

// `count` float32 arrays from args.values[first…], all of one length (*length); an error naming
// `name` otherwise.
bool get_floats_of_one_length(napi_env env, const Args& args, size_t first, size_t count, const char* name,
                              float** arrays, size_t* length) {
  *length = 0;
  for (size_t i = 0; i < count; ++i) {
    size_t this_length;
    if (!get_array(env, args.values[first + i], napi_float32_array, &arrays[i], &this_length)) return false;
    if (i == 0) *length = this_length;
    if (this_length != *length) {
      const std::string message = std::string("diffprune native: ") + name + " arrays differ in length";
      throw_if(env, true, message.c_str());
      return false;
    }
  }
  return true;
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

// tuneAllocator(): keeps freed tensor memory in the process (glibc) instead of returning it to the
// OS, so that the next tensor of that size does not page-fault afresh. Returns whether it applied.
napi_value TuneAllocator(napi_env env, napi_callback_info) {
  bool applied = false;
#if defined(__GLIBC__) && defined(M_MMAP_THRESHOLD) && defined(M_TRIM_THRESHOLD)
  applied = mallopt(M_MMAP_THRESHOLD, 256 << 20) == 1 && mallopt(M_TRIM_THRESHOLD, 1 << 30) == 1;
#endif
  napi_value out;
  napi_get_boolean(env, applied, &out);
  return out;
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


bool get_shape(napi_env env, napi_value value, std::vector<int64_t>& out) {
  bool is_array = false;
  napi_is_array(env, value, &is_array);
  if (throw_if(env, !is_array, "diffprune native: expected an array of integers")) return false;
  uint32_t length = 0;
  napi_get_array_length(env, value, &length);
  out.resize(length);
  for (uint32_t i = 0; i < length; ++i) {
    napi_value element;
    napi_get_element(env, value, i, &element);
    if (!get_int(env, element, &out[i])) return false;
  }
  return true;
}

// Any typed array of 4-byte elements (Float32Array, Int32Array, Uint32Array).
bool get_words(napi_env env, napi_value value, uint32_t** data, size_t* length) {
  bool is_typed = false;
  napi_is_typedarray(env, value, &is_typed);
  if (throw_if(env, !is_typed, "diffprune native: expected a typed array")) return false;
  napi_typedarray_type type;
  void* raw = nullptr;
  if (napi_get_typedarray_info(env, value, &type, length, &raw, nullptr, nullptr) != napi_ok) return false;
  if (throw_if(env, type != napi_float32_array && type != napi_int32_array && type != napi_uint32_array,
               "diffprune native: expected 4-byte elements"))
    return false;
  *data = static_cast<uint32_t*>(raw);
  return true;
}

int64_t product(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

// binary(op, a, b, out, shape, aStrides, bStrides): out is Float32Array, or Uint8Array for comparisons.
napi_value Binary(napi_env env, napi_callback_info info) {
  Args args;
  if (!get_args(env, info, args, 7)) return nullptr;
  int64_t op;
  float *a, *b;
  size_t a_len, b_len;
  std::vector<int64_t> shape, sa, sb;
  if (!get_int(env, args.values[0], &op) || !get_array(env, args.values[1], napi_float32_array, &a, &a_len) ||
      !get_array(env, args.values[2], napi_float32_array, &b, &b_len) || !get_shape(env, args.values[4], shape) ||
      !get_shape(env, args.values[5], sa) || !get_shape(env, args.values[6], sb))
    return nullptr;
  const bool comparison = op >= 16;
  void* out;
  size_t out_len;
  if (comparison) {
    uint8_t* bytes;
    if (!get_array(env, args.values[3], napi_uint8_array, &bytes, &out_len)) return nullptr;
    out = bytes;
  } else {
    float* floats;
    if (!get_array(env, args.values[3], napi_float32_array, &floats, &out_len)) return nullptr;
    out = floats;
  }
  int64_t max_a = 0, max_b = 0;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 0) return nullptr;
    max_a += (shape[d] - 1) * sa[d];
    max_b += (shape[d] - 1) * sb[d];
  }
  if (throw_if(env, sa.size() != shape.size() || sb.size() != shape.size() ||
                        static_cast<size_t>(product(shape)) > out_len || static_cast<size_t>(max_a) >= a_len ||
                        static_cast<size_t>(max_b) >= b_len || (op > 6 && op < 16) || op < 0 || op > 21,
               "diffprune native: binary sizes do not match the arrays"))
    return nullptr;
  diffprune::binary(static_cast<diffprune::BinaryOp>(op), a, b, out, static_cast<int>(shape.size()), shape.data(),
                    sa.data(), sb.data());
  return nullptr;
}

// unary(op, x, out)
napi_value Unary(napi_env env, napi_callback_info info) {
  Args args;
  if (!get_args(env, info, args, 3)) return nullptr;
  int64_t op;
  float *x, *out;
  size_t x_len, out_len;
  if (!get_int(env, args.values[0], &op) || !get_array(env, args.values[1], napi_float32_array, &x, &x_len) ||
      !get_array(env, args.values[2], napi_float32_array, &out, &out_len))
    return nullptr;
  if (throw_if(env, x_len != out_len || op < 0 || op > 11, "diffprune native: unary sizes do not match")) return nullptr;
  diffprune::unary(static_cast<diffprune::UnaryOp>(op), x, out, static_cast<std::ptrdiff_t>(x_len));
  return nullptr;
}

// reduce(kind, x, out, outer, reduce, inner, scale): kind 0 = sum (times scale), 1 = max.
napi_value Reduce(napi_env env, napi_callback_info info) {
  Args args;
  if (!get_args(env, info, args, 7)) return nullptr;
  int64_t kind, outer, reduce, inner;
  double scale;
  float *x, *out;
  size_t x_len, out_len;
  if (!get_int(env, args.values[0], &kind) || !get_array(env, args.values[1], napi_float32_array, &x, &x_len) ||
      !get_array(env, args.values[2], napi_float32_array, &out, &out_len) || !get_int(env, args.values[3], &outer) ||
      !get_int(env, args.values[4], &reduce) || !get_int(env, args.values[5], &inner) ||
      throw_if(env, napi_get_value_double(env, args.values[6], &scale) != napi_ok, "diffprune native: expected a number"))
    return nullptr;
  if (throw_if(env, outer < 0 || reduce < 1 || inner < 0 || static_cast<size_t>(outer * reduce * inner) > x_len ||
                        static_cast<size_t>(outer * inner) > out_len,
               "diffprune native: reduce sizes do not match the arrays"))
    return nullptr;
  if (kind == 0) {
    diffprune::reduce_sum(x, out, outer, reduce, inner, static_cast<float>(scale));
  } else {
    diffprune::reduce_max(x, out, outer, reduce, inner);
  }
  return nullptr;
}

// softmax(x, out, rows, cols)
napi_value Softmax(napi_env env, napi_callback_info info) {
  Args args;
  if (!get_args(env, info, args, 4)) return nullptr;
  int64_t rows, cols;
  float *x, *out;
  size_t x_len, out_len;
  if (!get_array(env, args.values[0], napi_float32_array, &x, &x_len) ||
      !get_array(env, args.values[1], napi_float32_array, &out, &out_len) || !get_int(env, args.values[2], &rows) ||
      !get_int(env, args.values[3], &cols))
    return nullptr;
  if (throw_if(env, cols < 1 || rows < 0 || static_cast<size_t>(rows * cols) > x_len || out_len < x_len,
               "diffprune native: softmax sizes do not match the arrays"))
    return nullptr;
  diffprune::softmax(x, out, rows, cols);
  return nullptr;
}

// transpose(x, out, shape, perm): 4-byte elements.
napi_value Transpose(napi_env env, napi_callback_info info) {
  Args args;
  if (!get_args(env, info, args, 4)) return nullptr;
  uint32_t *x, *out;
  size_t x_len, out_len;
  std::vector<int64_t> shape, perm;
  if (!get_words(env, args.values[0], &x, &x_len) || !get_words(env, args.values[1], &out, &out_len) ||
      !get_shape(env, args.values[2], shape) || !get_shape(env, args.values[3], perm))
    return nullptr;
  std::vector<bool> seen(shape.size(), false);
  bool valid = perm.size() == shape.size() && static_cast<size_t>(product(shape)) <= x_len && out_len >= x_len;
  for (auto p : perm) {
    if (p < 0 || p >= static_cast<int64_t>(shape.size()) || seen[p]) {
      valid = false;
      break;
    }
    seen[p] = true;
  }
  if (throw_if(env, !valid, "diffprune native: transpose sizes or permutation do not match")) return nullptr;
  if (product(shape) == 0) return nullptr;
  diffprune::transpose(x, out, static_cast<int>(shape.size()), shape.data(), perm.data());
  return nullptr;
}

// gatherRows(params, rows, inner, indices, out)
napi_value GatherRows(napi_env env, napi_callback_info info) {
  Args args;
  if (!get_args(env, info, args, 5)) return nullptr;
  uint32_t *params, *out;
  int32_t* indices;
  size_t params_len, indices_len, out_len;
  int64_t rows, inner;
  if (!get_words(env, args.values[0], &params, &params_len) || !get_int(env, args.values[1], &rows) ||
      !get_int(env, args.values[2], &inner) || !get_array(env, args.values[3], napi_int32_array, &indices, &indices_len) ||
      !get_words(env, args.values[4], &out, &out_len))
    return nullptr;
  if (throw_if(env, rows < 0 || inner < 0 || static_cast<size_t>(rows * inner) > params_len ||
                        indices_len * inner > out_len,
               "diffprune native: gather sizes do not match the arrays"))
    return nullptr;
  diffprune::gather_rows(params, rows, inner, indices, static_cast<std::ptrdiff_t>(indices_len), out);
  return nullptr;
}

// copyRegion(src, srcShape, srcBegin, dst, dstShape, dstBegin, region): 4-byte elements.
napi_value CopyRegion(napi_env env, napi_callback_info info) {
  Args args;
  if (!get_args(env, info, args, 7)) return nullptr;
  uint32_t *src, *dst;
  size_t src_len, dst_len;
  std::vector<int64_t> src_shape, src_begin, dst_shape, dst_begin, region;
  if (!get_words(env, args.values[0], &src, &src_len) || !get_shape(env, args.values[1], src_shape) ||
      !get_shape(env, args.values[2], src_begin) || !get_words(env, args.values[3], &dst, &dst_len) ||
      !get_shape(env, args.values[4], dst_shape) || !get_shape(env, args.values[5], dst_begin) ||
      !get_shape(env, args.values[6], region))
    return nullptr;
  const size_t rank = region.size();
  bool valid = src_shape.size() == rank && src_begin.size() == rank && dst_shape.size() == rank &&
               dst_begin.size() == rank && static_cast<size_t>(product(src_shape)) <= src_len &&
               static_cast<size_t>(product(dst_shape)) <= dst_len;
  for (size_t d = 0; valid && d < rank; ++d) {
    valid = region[d] >= 0 && src_begin[d] >= 0 && dst_begin[d] >= 0 && src_begin[d] + region[d] <= src_shape[d] &&
            dst_begin[d] + region[d] <= dst_shape[d];
  }
  if (throw_if(env, !valid, "diffprune native: copyRegion box outside the arrays")) return nullptr;
  if (product(region) == 0) return nullptr;
  diffprune::copy_region(src, src_shape.data(), src_begin.data(), dst, dst_shape.data(), dst_begin.data(),
                         region.data(), static_cast<int>(rank));
  return nullptr;
}

// adam(p, m, v, g, pOut, mOut, vOut, beta1, 1 - beta1, beta2, 1 - beta2, stepSize, sqrtCorrection2, epsilon,
//      gradScale); pOut, mOut, vOut may be p, m, v themselves (in place; all three or none).
napi_value Adam(napi_env env, napi_callback_info info) {
  Args args;
  if (!get_args(env, info, args, 15)) return nullptr;
  float* arrays[7];
  size_t length;
  double scalars[8];
  if (!get_floats_of_one_length(env, args, 0, 7, "adam", arrays, &length) || !get_doubles(env, args, 7, 8, scalars))
    return nullptr;
  const int aliased = (arrays[4] == arrays[0]) + (arrays[5] == arrays[1]) + (arrays[6] == arrays[2]);
  if (throw_if(env, aliased != 0 && aliased != 3,
               "diffprune native: adam outputs must be all new arrays or exactly p, m and v (in place)"))
    return nullptr;
  const diffprune::AdamCoefficients coefficients{
      static_cast<float>(scalars[0]), static_cast<float>(scalars[1]), static_cast<float>(scalars[2]),
      static_cast<float>(scalars[3]), static_cast<float>(scalars[4]), static_cast<float>(scalars[5]),
      static_cast<float>(scalars[6]), static_cast<float>(scalars[7])};
  diffprune::adam(arrays[0], arrays[1], arrays[2], arrays[3], arrays[4], arrays[5], arrays[6],
                  static_cast<std::ptrdiff_t>(length), coefficients);
  return nullptr;
}

// sumSquares(x): Σ x² as a double (accumulated in double; independent of the thread count).
napi_value SumSquares(napi_env env, napi_callback_info info) {
  Args args;
  if (!get_args(env, info, args, 1)) return nullptr;
  float* x;
  size_t length;
  if (!get_array(env, args.values[0], napi_float32_array, &x, &length)) return nullptr;
  napi_value out;
  napi_create_double(env, diffprune::sum_squares(x, static_cast<std::ptrdiff_t>(length)), &out);
  return out;
}

// (a, b, number) with a and b float32 arrays of one length: the arguments of sumSigmoid and
// sumSigmoidGrad.
bool get_two_arrays_and_number(napi_env env, napi_callback_info info, const char* name, float** a, float** b,
                               size_t* length, double* number) {
  Args args;
  float* arrays[2];
  if (!get_args(env, info, args, 3) || !get_floats_of_one_length(env, args, 0, 2, name, arrays, length) ||
      !get_doubles(env, args, 2, 1, number))
    return false;
  *a = arrays[0];
  *b = arrays[1];
  return true;
}

// sumSigmoid(x, sigma, shift) → Σσ(x − shift) (a double); sigma receives σ(x − shift).
napi_value SumSigmoid(napi_env env, napi_callback_info info) {
  float *x, *sigma;
  size_t length;
  double shift;
  if (!get_two_arrays_and_number(env, info, "sumSigmoid", &x, &sigma, &length, &shift)) return nullptr;
  napi_value out;
  napi_create_double(env, diffprune::sum_sigmoid(x, sigma, static_cast<std::ptrdiff_t>(length), static_cast<float>(shift)),
                     &out);
  return out;
}

// sumSigmoidGrad(sigma, dx, dy): dx = dy·σ(1 − σ).
napi_value SumSigmoidGrad(napi_env env, napi_callback_info info) {
  float *sigma, *dx;
  size_t length;
  double dy;
  if (!get_two_arrays_and_number(env, info, "sumSigmoidGrad", &sigma, &dx, &length, &dy)) return nullptr;
  diffprune::sum_sigmoid_grad(sigma, dx, static_cast<std::ptrdiff_t>(length), static_cast<float>(dy));
  return nullptr;
}

// scatterAdd(target, indices, values, scale): target[indices[i]] += values[i]·scale. indices must be
// strictly increasing and below target.length (checked here: a wrong index would write out of bounds).
napi_value ScatterAdd(napi_env env, napi_callback_info info) {
  Args args;
  if (!get_args(env, info, args, 4)) return nullptr;
  float *target, *values;
  uint32_t* indices;
  size_t target_len, indices_len, values_len;
  double scale;
  if (!get_array(env, args.values[0], napi_float32_array, &target, &target_len) ||
      !get_array(env, args.values[1], napi_uint32_array, &indices, &indices_len) ||
      !get_array(env, args.values[2], napi_float32_array, &values, &values_len) ||
      throw_if(env, napi_get_value_double(env, args.values[3], &scale) != napi_ok, "diffprune native: expected a number"))
    return nullptr;
  if (throw_if(env, indices_len != values_len, "diffprune native: scatterAdd indices and values differ in length"))
    return nullptr;
  if (indices_len == 0) return nullptr;
  bool valid = indices[indices_len - 1] < target_len;
  for (size_t i = 1; valid && i < indices_len; ++i) valid = indices[i - 1] < indices[i];
  if (throw_if(env, !valid, "diffprune native: scatterAdd indices must be strictly increasing and in range"))
    return nullptr;
  diffprune::scatter_add(target, static_cast<std::ptrdiff_t>(target_len), indices, values,
                         static_cast<std::ptrdiff_t>(indices_len), static_cast<float>(scale));
  return nullptr;
}

// The arguments both fused multi-tensor gate functions share, from args.values[first…]:
//   w, logAlpha, u | null, rows | null, rowSize, seed, groupGate, beta, left, right, uLow, uHigh, shift
// (base / theta / dy are read by the callers). Checks lengths and the rows' range.
bool get_fused_gate(napi_env env, const Args& args, size_t first, const char* name, diffprune::FusedGateTensor& t,
                    diffprune::GateParams& params, float& shift) {
  float* arrays[2];
  size_t length, u_len = 0, rows_len = 0;
  float* u;
  int32_t* rows = nullptr;
  double numbers[9];
  if (!get_floats_of_one_length(env, args, first, 2, name, arrays, &length) ||
      !get_optional_floats(env, args.values[first + 2], &u, &u_len) || !get_doubles(env, args, first + 4, 9, numbers))
    return false;
  napi_valuetype rows_type;
  napi_typeof(env, args.values[first + 3], &rows_type);
  if (rows_type != napi_null && rows_type != napi_undefined &&
      !get_array(env, args.values[first + 3], napi_int32_array, &rows, &rows_len))
    return false;
  const double row_size = numbers[0], seed = numbers[1];
  const std::string prefix = std::string("diffprune native: ") + name;
  if (throw_if(env, u != nullptr && u_len != length, (prefix + ": u differs in length from logAlpha").c_str()) ||
      throw_if(env, !(seed >= 0 && seed <= 4294967295.0 && seed == std::floor(seed)), (prefix + ": seed is not a uint32").c_str()) ||
      throw_if(env, !(row_size >= 1 && row_size == std::floor(row_size) && std::fmod(static_cast<double>(length), row_size) == 0),
               (prefix + ": rowSize must be a positive divisor of the tensor's size").c_str()))
    return false;
  const auto row_total = static_cast<int64_t>(length / static_cast<size_t>(row_size));
  for (size_t r = 0; r < rows_len; ++r)
    if (throw_if(env, rows[r] < 0 || rows[r] >= row_total, (prefix + ": a row index is out of range").c_str())) return false;
  t.w = arrays[0];
  t.log_alpha = arrays[1];
  t.u = u;
  t.rows = rows;
  t.size = static_cast<std::ptrdiff_t>(length);
  t.row_count = static_cast<std::ptrdiff_t>(rows_len);
  t.row_size = static_cast<std::ptrdiff_t>(row_size);
  t.seed = static_cast<uint32_t>(seed);
  t.group_gate = numbers[2];
  params = diffprune::GateParams{numbers[3], numbers[4], numbers[5], numbers[6], numbers[7]};
  shift = static_cast<float>(numbers[8]);
  return true;
}

// The length θ (or dy) must have: the whole tensor, or rows × rowSize.
size_t fused_output_length(const diffprune::FusedGateTensor& t) {
  return static_cast<size_t>(t.rows == nullptr ? t.size : t.row_count * t.row_size);
}

// gatedDiffsForward(theta, base, w, logAlpha, u | null, rows | null, rowSize, seed, groupGate, beta, left,
//                   right, uLow, uHigh, shift) → Σσ(logα − shift): see gate.h.
napi_value GatedDiffsForward(napi_env env, napi_callback_info info) {
  Args args;
  if (!get_args(env, info, args, 15)) return nullptr;
  diffprune::FusedGateTensor t{};
  diffprune::GateParams params{};
  float shift;
  float *theta, *base;
  size_t theta_len, base_len;
  if (!get_array(env, args.values[0], napi_float32_array, &theta, &theta_len) ||
      !get_array(env, args.values[1], napi_float32_array, &base, &base_len) ||
      !get_fused_gate(env, args, 2, "gatedDiffsForward", t, params, shift))
    return nullptr;
  if (throw_if(env, base_len != static_cast<size_t>(t.size) || theta_len != fused_output_length(t),
               "diffprune native: gatedDiffsForward base or theta has the wrong length"))
    return nullptr;
  t.base = base;
  napi_value out;
  napi_create_double(env, diffprune::gated_diffs_forward(t, theta, params, shift), &out);
  return out;
}

// gatedDiffsBackward(dw, dLogAlpha, dy, w, logAlpha, u | null, rows | null, rowSize, seed, groupGate, beta,
//                    left, right, uLow, uHigh, shift, penalty) → [Σ dy·w·z, Σσ]: see gate.h.
napi_value GatedDiffsBackward(napi_env env, napi_callback_info info) {
  Args args;
  if (!get_args(env, info, args, 17)) return nullptr;
  diffprune::FusedGateTensor t{};
  diffprune::GateParams params{};
  float shift;
  float* outputs[2];
  size_t outputs_len, dy_len;
  float* dy;
  double penalty;
  if (!get_floats_of_one_length(env, args, 0, 2, "gatedDiffsBackward", outputs, &outputs_len) ||
      !get_array(env, args.values[2], napi_float32_array, &dy, &dy_len) ||
      !get_fused_gate(env, args, 3, "gatedDiffsBackward", t, params, shift) || !get_doubles(env, args, 16, 1, &penalty))
    return nullptr;
  if (throw_if(env, outputs_len != static_cast<size_t>(t.size) || dy_len != fused_output_length(t),
               "diffprune native: gatedDiffsBackward dw, dLogAlpha or dy has the wrong length"))
    return nullptr;
  const diffprune::FusedGateSums sums =
      diffprune::gated_diffs_backward(t, dy, outputs[0], outputs[1], params, shift, static_cast<float>(penalty));
  napi_value out, group_dot, sigma_sum;
  napi_create_array_with_length(env, 2, &out);
  napi_create_double(env, sums.group_dot, &group_dot);
  napi_create_double(env, sums.sigma_sum, &sigma_sum);
  napi_set_element(env, out, 0, group_dot);
  napi_set_element(env, out, 1, sigma_sum);
  return out;
}

// groupGate(logAlpha, u, beta, left, right, uLow, uHigh, shift) → [z_g, dz_g/dlogα_g, σ(logα_g − shift)]:
// one tensor's group gate from its logα_g and noise (see gate.h).
napi_value GroupGateValues(napi_env env, napi_callback_info info) {
  Args args;
  if (!get_args(env, info, args, 8)) return nullptr;
  double numbers[8];
  if (!get_doubles(env, args, 0, 8, numbers)) return nullptr;
  const diffprune::GateParams params{numbers[2], numbers[3], numbers[4], numbers[5], numbers[6]};
  const diffprune::GroupGate g =
      diffprune::group_gate(static_cast<float>(numbers[0]), static_cast<float>(numbers[1]), params, numbers[7]);
  napi_value out, value;
  napi_create_array_with_length(env, 3, &out);
  const float values[3] = {g.gate, g.slope, g.sigma};
  for (uint32_t k = 0; k < 3; ++k) {
    napi_create_double(env, values[k], &value);
    napi_set_element(env, out, k, value);
  }
  return out;
}

// dropoutMask(out, seed, rate): out[i] = u_i ≥ rate ? float(1/(1 − rate)) : 0, u_i the counter-based
// uniforms of seed (see dropout.h): core's fillDropoutMask.
napi_value DropoutMask(napi_env env, napi_callback_info info) {
  Args args;
  if (!get_args(env, info, args, 3)) return nullptr;
  float* out;
  size_t length;
  double numbers[2];
  if (!get_array(env, args.values[0], napi_float32_array, &out, &length) || !get_doubles(env, args, 1, 2, numbers))
    return nullptr;
  const double seed = numbers[0], rate = numbers[1];
  if (throw_if(env, !(seed >= 0 && seed <= 4294967295.0 && seed == std::floor(seed)),
               "diffprune native: dropoutMask seed is not a uint32") ||
      throw_if(env, !(rate >= 0 && rate < 1), "diffprune native: dropoutMask rate is not in [0, 1)") ||
      throw_if(env, length > (size_t{1} << 32), "diffprune native: dropoutMask has more than 2^32 elements"))
    return nullptr;
  diffprune::dropout_mask(out, static_cast<std::ptrdiff_t>(length), static_cast<uint32_t>(seed),
                          diffprune::dropout_threshold(rate), static_cast<float>(1.0 / (1.0 - rate)));
  return nullptr;
}

// A δ's positions in the packed Wᵀ (sparse_delta.h packed_offsets), kept on the δ object itself
// (napi_wrap) for the next call and freed with it: computed once per δ, weight shape and GEMM kernel.
struct OffsetCache {
  const char* kernel = nullptr;  // gemm_kernel_name() when computed
  int64_t in_features = 0, out_features = 0;
  const uint32_t* indices = nullptr;
  std::ptrdiff_t count = 0;
  std::vector<int32_t> offsets;
};

void finalize_offsets(napi_env env, void* data, void*) {
  auto* cache = static_cast<OffsetCache*>(data);
  int64_t adjusted;
  napi_adjust_external_memory(env, -static_cast<int64_t>(cache->offsets.capacity() * sizeof(int32_t)), &adjusted);
  delete cache;
}

// The position cache kept on δ object `delta` (created empty on first use); null when it cannot be
// kept there (an object that cannot be wrapped, or one another addon wrapped): positions per call then.
OffsetCache* offset_cache(napi_env env, napi_value delta) {
  // Our wraps carry our type tag: an object another addon wrapped is never read as a cache.
  static const napi_type_tag kOffsetCacheTag = {0x6469666670727578ULL, 0x6f66667365747331ULL};
  bool ours = false;
  if (napi_check_object_type_tag(env, delta, &kOffsetCacheTag, &ours) != napi_ok) return nullptr;
  if (ours) {
    void* raw = nullptr;
    if (napi_unwrap(env, delta, &raw) != napi_ok) return nullptr;
    return static_cast<OffsetCache*>(raw);
  }
  auto* cache = new OffsetCache;
  if (napi_wrap(env, delta, cache, finalize_offsets, nullptr, nullptr) != napi_ok) {
    delete cache;  // e.g. already wrapped by someone else, or not extensible
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (pending) {
      napi_value ignored;
      napi_get_and_clear_last_exception(env, &ignored);
    }
    return nullptr;
  }
  napi_type_tag_object(env, delta, &kOffsetCacheTag);
  return cache;
}

// Whether `cache` holds the positions of δ `view` for this weight shape and the active GEMM kernel.
bool offsets_current(const OffsetCache& cache, const diffprune::SlotDeltaView& view, int64_t in_features,
                     int64_t out_features) {
  return cache.kernel == diffprune::gemm_kernel_name() && cache.in_features == in_features &&
         cache.out_features == out_features && cache.indices == view.indices && cache.count == view.count;
}

// Computes δ `view`'s positions into `cache` (its indices checked in range by the caller); null when
// they do not fit an int32: the kernel then computes them per call.
const int32_t* fill_offsets(napi_env env, OffsetCache& cache, const diffprune::SlotDeltaView& view,
                            int64_t in_features, int64_t out_features) {
  const int64_t before = static_cast<int64_t>(cache.offsets.capacity() * sizeof(int32_t));
  cache.offsets.resize(static_cast<size_t>(view.count));
  cache.kernel = nullptr;
  if (!diffprune::packed_offsets(view, in_features, out_features, cache.offsets.data())) return nullptr;
  cache.kernel = diffprune::gemm_kernel_name();
  cache.in_features = in_features;
  cache.out_features = out_features;
  cache.indices = view.indices;
  cache.count = view.count;
  int64_t adjusted;
  napi_adjust_external_memory(env, static_cast<int64_t>(cache.offsets.capacity() * sizeof(int32_t)) - before,
                              &adjusted);
  return cache.offsets.data();
}

// What sparseRowDelta and sparseRowLinear (`op`) share: rowSlots, the slots' δs and the dimensions
// batch, length, inFeatures, outFeatures (`dims`, four values).
struct SlotRows {
  const int32_t* row_slots = nullptr;
  std::vector<diffprune::SlotDeltaView> deltas;
  int64_t batch = 0, length = 0, in_features = 0, out_features = 0;
};

// Reads and checks the SlotRows arguments: dimensions positive and each at most 2^30; x and out of
// batch·length·features elements; one slot per batch row, each in [0, deltas.length); each δ undefined,
// null or {indices: Uint32Array, values: Float32Array} of one length, every index < outFeatures·
// inFeatures (one vectorised pass, no early exit; with `offsets`, only when a δ's packed positions are
// computed, as the kernel then reads positions, not indices). Throws (and returns false) otherwise: a
// wrong one would read or write out of bounds. With `offsets`, each δ's positions, kept on the δ
// (offset_cache) or computed per call.
bool get_slot_rows(napi_env env, const std::string& op, napi_value row_slots_value, napi_value deltas_value,
                   const napi_value* dims, size_t x_len, size_t out_len, SlotRows& rows, bool offsets) {
  const std::string prefix = "diffprune native: " + op;
  int64_t d[4];
  for (int i = 0; i < 4; ++i)
    if (!get_int(env, dims[i], &d[i])) return false;
  rows.batch = d[0];
  rows.length = d[1];
  rows.in_features = d[2];
  rows.out_features = d[3];
  int32_t* row_slots = nullptr;
  size_t row_slots_len = 0;
  if (throw_if(env, rows.batch < 0 || rows.length < 0 || rows.in_features < 1 || rows.out_features < 1,
               (prefix + " dimensions must be positive").c_str()) ||
      throw_if(env,
               rows.batch > (1 << 30) || rows.length > (1 << 30) || rows.in_features > (1 << 30) ||
                   rows.out_features > (1 << 30) || rows.batch * rows.length > (1 << 30),
               (prefix + " dimensions exceed 2^30").c_str()) ||
      throw_if(env,
               x_len != static_cast<size_t>(rows.batch * rows.length * rows.in_features) ||
                   out_len != static_cast<size_t>(rows.batch * rows.length * rows.out_features),
               (prefix + " x or out does not have batch·length·features elements").c_str()) ||
      !get_array(env, row_slots_value, napi_int32_array, &row_slots, &row_slots_len) ||
      throw_if(env, row_slots_len != static_cast<size_t>(rows.batch),
               (prefix + " rowSlots does not have one slot per batch row").c_str()))
    return false;
  rows.row_slots = row_slots;
  bool is_array = false;
  napi_is_array(env, deltas_value, &is_array);
  uint32_t slots = 0;
  if (throw_if(env, !is_array || napi_get_array_length(env, deltas_value, &slots) != napi_ok,
               (prefix + " deltas must be an array (one δ or undefined per slot)").c_str()))
    return false;
  bool valid = true;
  for (int64_t b = 0; valid && b < rows.batch; ++b) valid = row_slots[b] >= 0 && row_slots[b] < static_cast<int64_t>(slots);
  if (throw_if(env, !valid, (prefix + " has a row slot out of range").c_str())) return false;
  const uint64_t size = static_cast<uint64_t>(rows.in_features) * static_cast<uint64_t>(rows.out_features);
  rows.deltas.assign(slots, diffprune::SlotDeltaView{});
  for (uint32_t k = 0; k < slots; ++k) {
    napi_value delta;
    napi_valuetype type;
    if (napi_get_element(env, deltas_value, k, &delta) != napi_ok || napi_typeof(env, delta, &type) != napi_ok)
      return false;
    if (type == napi_undefined || type == napi_null) continue;
    napi_value indices_value, values_value;
    uint32_t* indices;
    float* values;
    size_t indices_len, values_len;
    if (throw_if(env,
                 type != napi_object || napi_get_named_property(env, delta, "indices", &indices_value) != napi_ok ||
                     napi_get_named_property(env, delta, "values", &values_value) != napi_ok,
                 (prefix + " a δ must be {indices: Uint32Array, values: Float32Array}").c_str()) ||
        !get_array(env, indices_value, napi_uint32_array, &indices, &indices_len) ||
        !get_array(env, values_value, napi_float32_array, &values, &values_len) ||
        throw_if(env, indices_len != values_len, (prefix + " a δ's indices and values differ in length").c_str()))
      return false;
    rows.deltas[k] = {indices, values, static_cast<std::ptrdiff_t>(indices_len)};
    // Positions kept from an earlier call were computed from checked indices, and the kernel then reads
    // no index: nothing out of bounds can be reached, so the check runs when they are (re)computed.
    OffsetCache* cache = offsets && indices_len > 0 ? offset_cache(env, delta) : nullptr;
    if (cache && offsets_current(*cache, rows.deltas[k], rows.in_features, rows.out_features)) {
      rows.deltas[k].offsets = cache->offsets.data();
      continue;
    }
    uint32_t outside = 0;
    if (size < (uint64_t{1} << 32)) {
      const uint32_t limit = static_cast<uint32_t>(size);
      for (size_t e = 0; e < indices_len; ++e) outside |= static_cast<uint32_t>(indices[e] >= limit);
    }
    if (throw_if(env, outside != 0, (prefix + " has a δ position outside the weight").c_str())) return false;
    if (cache) rows.deltas[k].offsets = fill_offsets(env, *cache, rows.deltas[k], rows.in_features, rows.out_features);
  }
  return true;
}

// sparseRowDelta(out, x, rowSlots, deltas, batch, length, inFeatures, outFeatures): core's
// DiffpruneSparseRowDelta (sparse_delta.h). Every length and index is checked (get_slot_rows).
napi_value SparseRowDelta(napi_env env, napi_callback_info info) {
  Args args;
  if (!get_args(env, info, args, 8)) return nullptr;
  float *out, *x;
  size_t out_len, x_len;
  SlotRows rows;
  if (!get_array(env, args.values[0], napi_float32_array, &out, &out_len) ||
      !get_array(env, args.values[1], napi_float32_array, &x, &x_len) ||
      !get_slot_rows(env, "sparseRowDelta", args.values[2], args.values[3], args.values + 4, x_len, out_len, rows,
                     false))
    return nullptr;
  diffprune::sparse_row_delta(out, x, rows.row_slots, rows.deltas.data(),
                              static_cast<std::ptrdiff_t>(rows.deltas.size()), rows.batch, rows.length,
                              rows.in_features, rows.out_features);
  return nullptr;
}

// sparseRowLinear(out, x, weight, bias, rowSlots, deltas, batch, length, inFeatures, outFeatures): core's
// DiffpruneSparseRowLinear (sparse_delta.h); bias null, [outFeatures] or [slots, outFeatures]. Every
// length is checked, and every index whenever a δ's positions are computed (get_slot_rows).
napi_value SparseRowLinear(napi_env env, napi_callback_info info) {
  Args args;
  if (!get_args(env, info, args, 10)) return nullptr;
  float *out, *x, *weight, *bias;
  size_t out_len, x_len, weight_len, bias_len;
  SlotRows rows;
  if (!get_array(env, args.values[0], napi_float32_array, &out, &out_len) ||
      !get_array(env, args.values[1], napi_float32_array, &x, &x_len) ||
      !get_array(env, args.values[2], napi_float32_array, &weight, &weight_len) ||
      !get_optional_floats(env, args.values[3], &bias, &bias_len) ||
      !get_slot_rows(env, "sparseRowLinear", args.values[4], args.values[5], args.values + 6, x_len, out_len, rows,
                     true))
    return nullptr;
  const int64_t slots = static_cast<int64_t>(rows.deltas.size());
  const bool bias_per_slot = bias != nullptr && bias_len == static_cast<size_t>(slots * rows.out_features);
  if (throw_if(env, weight_len != static_cast<size_t>(rows.out_features * rows.in_features),
               "diffprune native: sparseRowLinear weight does not have outFeatures·inFeatures elements") ||
      throw_if(env, bias != nullptr && !bias_per_slot && bias_len != static_cast<size_t>(rows.out_features),
               "diffprune native: sparseRowLinear bias is neither [outFeatures] nor [slots, outFeatures]"))
    return nullptr;
  diffprune::sparse_row_linear(out, x, weight, bias, bias_per_slot, rows.row_slots, rows.deltas.data(), slots,
                               rows.batch, rows.length, rows.in_features, rows.out_features);
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
      {"binary", nullptr, Binary, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"unary", nullptr, Unary, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"reduce", nullptr, Reduce, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"softmax", nullptr, Softmax, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"transpose", nullptr, Transpose, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"gatherRows", nullptr, GatherRows, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"copyRegion", nullptr, CopyRegion, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"adam", nullptr, Adam, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"sumSquares", nullptr, SumSquares, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"gatedDiffsForward", nullptr, GatedDiffsForward, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"gatedDiffsBackward", nullptr, GatedDiffsBackward, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"groupGate", nullptr, GroupGateValues, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"scatterAdd", nullptr, ScatterAdd, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"sumSigmoid", nullptr, SumSigmoid, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"sumSigmoidGrad", nullptr, SumSigmoidGrad, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"dropoutMask", nullptr, DropoutMask, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"sparseRowDelta", nullptr, SparseRowDelta, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"sparseRowLinear", nullptr, SparseRowLinear, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"tuneAllocator", nullptr, TuneAllocator, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"setThreads", nullptr, SetThreads, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"threads", nullptr, Threads, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"gemmKernel", nullptr, GemmKernel, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"setGemmKernel", nullptr, SetGemmKernel, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof properties / sizeof properties[0], properties);
  return exports;
}
