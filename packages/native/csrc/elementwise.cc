// Elementwise ops, reductions, softmax, transpose and gather for the tfjs data layout (row-major,
// float32). Broadcasting collapses adjacent dimensions first, so the inner loop is almost always a
// contiguous run the compiler vectorises. Large ops are split across the thread pool.
#include "elementwise.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "pool.h"
#include "vector_math.h"

namespace diffprune {
namespace {

template <typename T, typename Op>
inline void binary_inner(const float* a, const float* b, T* out, std::ptrdiff_t n, std::ptrdiff_t sa,
                         std::ptrdiff_t sb, Op op) {
  if (sa == 1 && sb == 1) {
    for (std::ptrdiff_t i = 0; i < n; ++i) out[i] = op(a[i], b[i]);
  } else if (sa == 1 && sb == 0) {
    const float bv = *b;
    for (std::ptrdiff_t i = 0; i < n; ++i) out[i] = op(a[i], bv);
  } else if (sa == 0 && sb == 1) {
    const float av = *a;
    for (std::ptrdiff_t i = 0; i < n; ++i) out[i] = op(av, b[i]);
  } else {
    for (std::ptrdiff_t i = 0; i < n; ++i) out[i] = op(a[i * sa], b[i * sb]);
  }
}

struct Collapsed {
  std::vector<int64_t> shape, sa, sb;
};

// Merges adjacent dimensions that both inputs step through uniformly; drops size-1 dimensions.
Collapsed collapse(int rank, const int64_t* shape, const int64_t* a_strides, const int64_t* b_strides) {
  Collapsed c;
  for (int d = 0; d < rank; ++d) {
    if (shape[d] == 1) continue;
    const int64_t sa = a_strides[d], sb = b_strides[d];
    if (!c.shape.empty() && c.sa.back() == sa * shape[d] && c.sb.back() == sb * shape[d]) {
      c.shape.back() *= shape[d];
      c.sa.back() = sa;
      c.sb.back() = sb;
    } else {
      c.shape.push_back(shape[d]);
      c.sa.push_back(sa);
      c.sb.push_back(sb);
    }
  }
  if (c.shape.empty()) {
    c.shape.push_back(1);
    c.sa.push_back(0);
    c.sb.push_back(0);
  }
  return c;
}

template <typename T, typename Op>
void binary_run(const float* a, const float* b, T* out, const Collapsed& c, Op op) {
  const int rank = static_cast<int>(c.shape.size());
  const std::ptrdiff_t inner = c.shape[rank - 1];
  const std::ptrdiff_t isa = c.sa[rank - 1], isb = c.sb[rank - 1];
  std::ptrdiff_t outer = 1;
  for (int d = 0; d < rank - 1; ++d) outer *= c.shape[d];
  parallel_range(outer, inner, [&](std::ptrdiff_t begin, std::ptrdiff_t end) {
    for (std::ptrdiff_t o = begin; o < end; ++o) {
      std::ptrdiff_t rest = o, offset_a = 0, offset_b = 0;
      for (int d = rank - 2; d >= 0; --d) {
        const std::ptrdiff_t index = rest % c.shape[d];
        rest /= c.shape[d];
        offset_a += index * c.sa[d];
        offset_b += index * c.sb[d];
      }
      binary_inner(a + offset_a, b + offset_b, out + o * inner, inner, isa, isb, op);
    }
  });
}

// erf by Abramowitz & Stegun 7.1.26 (|error| ≤ 1.5e-7), the formula tfjs's own Erf kernels use.
inline float fast_erf(float x) {
  const float a = std::fabs(x);
  const float t = 1.0f / (1.0f + 0.3275911f * a);
  const float poly =
      ((((1.061405429f * t - 1.453152027f) * t + 1.421413741f) * t - 0.284496736f) * t + 0.254829592f) * t;
  const float y = 1.0f - poly * fast_exp(-a * a);
  return x < 0.0f ? -y : y;
}

DIFFPRUNE_CLONES void exp_loop(const float* x, float* out, std::ptrdiff_t n) {
  for (std::ptrdiff_t i = 0; i < n; ++i) out[i] = fast_exp(x[i]);
}

DIFFPRUNE_CLONES void erf_loop(const float* x, float* out, std::ptrdiff_t n) {
  for (std::ptrdiff_t i = 0; i < n; ++i) out[i] = fast_erf(x[i]);
}

DIFFPRUNE_CLONES void sigmoid_loop(const float* x, float* out, std::ptrdiff_t n) {
  for (std::ptrdiff_t i = 0; i < n; ++i) out[i] = 1.0f / (1.0f + fast_exp(-x[i]));
}

DIFFPRUNE_CLONES void softmax_rows(const float* x, float* out, std::ptrdiff_t begin, std::ptrdiff_t end,
                                   std::ptrdiff_t cols) {
  for (std::ptrdiff_t r = begin; r < end; ++r) {
    const float* in = x + r * cols;
    float* o = out + r * cols;
    float max = -INFINITY;
    for (std::ptrdiff_t c = 0; c < cols; ++c) max = std::max(max, in[c]);
    float sum = 0.0f;
    for (std::ptrdiff_t c = 0; c < cols; ++c) {
      o[c] = fast_exp(in[c] - max);
      sum += o[c];
    }
    const float inverse = 1.0f / sum;
    for (std::ptrdiff_t c = 0; c < cols; ++c) o[c] *= inverse;
  }
}

}  // namespace

void segment_sum(const float* values, const int32_t* ids, std::ptrdiff_t rows, std::ptrdiff_t inner,
                 std::ptrdiff_t segments, float* out) {
  for (std::ptrdiff_t r = 0; r < rows; ++r) {
    const std::ptrdiff_t segment = ids[r];
    if (segment < 0 || segment >= segments) continue;
    const float* src = values + r * inner;
    float* dst = out + segment * inner;
    for (std::ptrdiff_t j = 0; j < inner; ++j) dst[j] += src[j];
  }
}

void binary(BinaryOp op, const float* a, const float* b, void* out, int rank, const int64_t* shape,
            const int64_t* a_strides, const int64_t* b_strides) {
  const Collapsed c = collapse(rank, shape, a_strides, b_strides);
  float* f = static_cast<float*>(out);
  uint8_t* u = static_cast<uint8_t*>(out);
  switch (op) {
    case BinaryOp::kAdd: return binary_run(a, b, f, c, [](float x, float y) { return x + y; });
    case BinaryOp::kSub: return binary_run(a, b, f, c, [](float x, float y) { return x - y; });
    case BinaryOp::kMul: return binary_run(a, b, f, c, [](float x, float y) { return x * y; });
    case BinaryOp::kDiv: return binary_run(a, b, f, c, [](float x, float y) { return x / y; });
    case BinaryOp::kMaximum:
      return binary_run(a, b, f, c, [](float x, float y) { return (x != x || y != y) ? NAN : (x > y ? x : y); });
    case BinaryOp::kMinimum:
      return binary_run(a, b, f, c, [](float x, float y) { return (x != x || y != y) ? NAN : (x < y ? x : y); });
    case BinaryOp::kSquaredDifference:
      return binary_run(a, b, f, c, [](float x, float y) { return (x - y) * (x - y); });
    case BinaryOp::kGreater: return binary_run(a, b, u, c, [](float x, float y) -> uint8_t { return x > y; });
    case BinaryOp::kGreaterEqual: return binary_run(a, b, u, c, [](float x, float y) -> uint8_t { return x >= y; });
    case BinaryOp::kLess: return binary_run(a, b, u, c, [](float x, float y) -> uint8_t { return x < y; });
    case BinaryOp::kLessEqual: return binary_run(a, b, u, c, [](float x, float y) -> uint8_t { return x <= y; });
    case BinaryOp::kEqual: return binary_run(a, b, u, c, [](float x, float y) -> uint8_t { return x == y; });
    case BinaryOp::kNotEqual: return binary_run(a, b, u, c, [](float x, float y) -> uint8_t { return x != y; });
  }
}

void unary(UnaryOp op, const float* x, float* out, std::ptrdiff_t n) {
  auto run = [&](auto f) {
    parallel_range(n, 1, [&](std::ptrdiff_t begin, std::ptrdiff_t end) {
      for (std::ptrdiff_t i = begin; i < end; ++i) out[i] = f(x[i]);
    });
  };
  switch (op) {
    case UnaryOp::kExp:
      return parallel_range(n, 4, [&](std::ptrdiff_t b, std::ptrdiff_t e) { exp_loop(x + b, out + b, e - b); });
    case UnaryOp::kErf:
      return parallel_range(n, 8, [&](std::ptrdiff_t b, std::ptrdiff_t e) { erf_loop(x + b, out + b, e - b); });
    case UnaryOp::kTanh: return run([](float v) { return std::tanh(v); });
    case UnaryOp::kSquare: return run([](float v) { return v * v; });
    case UnaryOp::kSqrt: return run([](float v) { return std::sqrt(v); });
    case UnaryOp::kRsqrt: return run([](float v) { return 1.0f / std::sqrt(v); });
    case UnaryOp::kNeg: return run([](float v) { return -v; });
    case UnaryOp::kAbs: return run([](float v) { return std::fabs(v); });
    case UnaryOp::kLog: return run([](float v) { return std::log(v); });
    case UnaryOp::kSigmoid:
      return parallel_range(n, 4, [&](std::ptrdiff_t b, std::ptrdiff_t e) { sigmoid_loop(x + b, out + b, e - b); });
    case UnaryOp::kRelu: return run([](float v) { return v != v ? v : (v > 0.0f ? v : 0.0f); });
    case UnaryOp::kReciprocal: return run([](float v) { return 1.0f / v; });
  }
}

void reduce_sum(const float* x, float* out, std::ptrdiff_t outer, std::ptrdiff_t reduce, std::ptrdiff_t inner,
                float scale) {
  if (inner == 1) {
    parallel_range(outer, reduce, [&](std::ptrdiff_t begin, std::ptrdiff_t end) {
      for (std::ptrdiff_t o = begin; o < end; ++o) {
        const float* row = x + o * reduce;
        // Eight partial sums: vectorisable and more accurate than one running sum.
        float partial[8] = {};
        std::ptrdiff_t r = 0;
        for (; r + 8 <= reduce; r += 8)
          for (int k = 0; k < 8; ++k) partial[k] += row[r + k];
        float sum = 0.0f;
        for (; r < reduce; ++r) sum += row[r];
        for (int k = 0; k < 8; ++k) sum += partial[k];
        out[o] = sum * scale;
      }
    });
    return;
  }
  parallel_range(outer * inner, reduce, [&](std::ptrdiff_t begin, std::ptrdiff_t end) {
    // Work in whole (o, inner-range) pieces: column sums over the reduced axis.
    std::ptrdiff_t index = begin;
    while (index < end) {
      const std::ptrdiff_t o = index / inner, i0 = index % inner;
      const std::ptrdiff_t i1 = std::min(inner, i0 + (end - index));
      float* dst = out + o * inner;
      const float* src = x + o * reduce * inner;
      for (std::ptrdiff_t i = i0; i < i1; ++i) dst[i] = 0.0f;
      for (std::ptrdiff_t r = 0; r < reduce; ++r) {
        const float* row = src + r * inner;
        for (std::ptrdiff_t i = i0; i < i1; ++i) dst[i] += row[i];
      }
      if (scale != 1.0f)
        for (std::ptrdiff_t i = i0; i < i1; ++i) dst[i] *= scale;
      index += i1 - i0;
    }
  });
}

void reduce_max(const float* x, float* out, std::ptrdiff_t outer, std::ptrdiff_t reduce, std::ptrdiff_t inner) {
  for (std::ptrdiff_t o = 0; o < outer; ++o) {
    float* dst = out + o * inner;
    const float* src = x + o * reduce * inner;
    for (std::ptrdiff_t i = 0; i < inner; ++i) dst[i] = src[i];
    for (std::ptrdiff_t r = 1; r < reduce; ++r) {
      const float* row = src + r * inner;
      for (std::ptrdiff_t i = 0; i < inner; ++i) {
        const float v = row[i];
        if (v > dst[i] || v != v) dst[i] = v;
      }
    }
  }
}

void softmax(const float* x, float* out, std::ptrdiff_t rows, std::ptrdiff_t cols) {
  parallel_range(rows, cols * 4,
                 [&](std::ptrdiff_t begin, std::ptrdiff_t end) { softmax_rows(x, out, begin, end, cols); });
}

void transpose(const uint32_t* x, uint32_t* out, int rank, const int64_t* shape, const int64_t* perm) {
  // Input strides, then the output's dims with their input strides, collapsed where contiguous.
  std::vector<int64_t> in_strides(rank, 1);
  for (int d = rank - 2; d >= 0; --d) in_strides[d] = in_strides[d + 1] * shape[d + 1];
  std::vector<int64_t> dims, strides;
  for (int d = 0; d < rank; ++d) {
    const int64_t size = shape[perm[d]], stride = in_strides[perm[d]];
    if (size == 1) continue;
    if (!dims.empty() && strides.back() == stride * size) {
      dims.back() *= size;
      strides.back() = stride;
    } else {
      dims.push_back(size);
      strides.push_back(stride);
    }
  }
  std::ptrdiff_t total = 1;
  for (int d = 0; d < rank; ++d) total *= shape[d];
  if (dims.empty() || (dims.size() == 1 && strides[0] == 1)) {
    std::memcpy(out, x, sizeof(uint32_t) * total);
    return;
  }
  const int n = static_cast<int>(dims.size());
  const std::ptrdiff_t inner = dims[n - 1], inner_stride = strides[n - 1];
  const std::ptrdiff_t outer = total / inner;
  // A 2-D transpose (the common case after collapsing) is done in tiles for the cache.
  if (n == 2 && inner_stride != 1) {
    const std::ptrdiff_t rows = dims[0], cols = dims[1], row_stride = strides[0];
    constexpr std::ptrdiff_t kTile = 32;
    parallel_range((rows + kTile - 1) / kTile, kTile * cols, [&](std::ptrdiff_t begin, std::ptrdiff_t end) {
      for (std::ptrdiff_t i0 = begin * kTile; i0 < std::min(rows, end * kTile); i0 += kTile)
        for (std::ptrdiff_t j0 = 0; j0 < cols; j0 += kTile)
          for (std::ptrdiff_t i = i0; i < std::min(rows, i0 + kTile); ++i)
            for (std::ptrdiff_t j = j0; j < std::min(cols, j0 + kTile); ++j)
              out[i * cols + j] = x[i * row_stride + j * inner_stride];
    });
    return;
  }
  parallel_range(outer, inner, [&](std::ptrdiff_t begin, std::ptrdiff_t end) {
    for (std::ptrdiff_t o = begin; o < end; ++o) {
      std::ptrdiff_t rest = o, offset = 0;
      for (int d = n - 2; d >= 0; --d) {
        offset += (rest % dims[d]) * strides[d];
        rest /= dims[d];
      }
      uint32_t* dst = out + o * inner;
      const uint32_t* src = x + offset;
      if (inner_stride == 1) {
        std::memcpy(dst, src, sizeof(uint32_t) * inner);
      } else {
        for (std::ptrdiff_t i = 0; i < inner; ++i) dst[i] = src[i * inner_stride];
      }
    }
  });
}

void gather_rows(const uint32_t* params, std::ptrdiff_t rows, std::ptrdiff_t inner, const int32_t* indices,
                 std::ptrdiff_t count, uint32_t* out) {
  for (std::ptrdiff_t i = 0; i < count; ++i) {
    const std::ptrdiff_t row = indices[i];
    if (row < 0 || row >= rows) {
      std::memset(out + i * inner, 0, sizeof(uint32_t) * inner);
    } else {
      std::memcpy(out + i * inner, params + row * inner, sizeof(uint32_t) * inner);
    }
  }
}

}  // namespace diffprune

namespace diffprune {

void copy_region(const uint32_t* src, const int64_t* src_shape, const int64_t* src_begin, uint32_t* dst,
                 const int64_t* dst_shape, const int64_t* dst_begin, const int64_t* region, int rank) {
  if (rank == 0) {
    *dst = *src;
    return;
  }
  std::vector<int64_t> src_strides(rank, 1), dst_strides(rank, 1);
  for (int d = rank - 2; d >= 0; --d) {
    src_strides[d] = src_strides[d + 1] * src_shape[d + 1];
    dst_strides[d] = dst_strides[d + 1] * dst_shape[d + 1];
  }
  std::ptrdiff_t src_base = 0, dst_base = 0, outer = 1;
  for (int d = 0; d < rank; ++d) {
    src_base += src_begin[d] * src_strides[d];
    dst_base += dst_begin[d] * dst_strides[d];
    if (d < rank - 1) outer *= region[d];
  }
  const std::ptrdiff_t inner = region[rank - 1];
  if (inner == 0) return;
  for (std::ptrdiff_t o = 0; o < outer; ++o) {
    std::ptrdiff_t rest = o, s = src_base, t = dst_base;
    for (int d = rank - 2; d >= 0; --d) {
      const std::ptrdiff_t index = rest % region[d];
      rest /= region[d];
      s += index * src_strides[d];
      t += index * dst_strides[d];
    }
    std::memcpy(dst + t, src + s, sizeof(uint32_t) * inner);
  }
}

}  // namespace diffprune

namespace diffprune {
namespace {

// One element of the Adam step (see elementwise.h); the outputs may alias the inputs.
inline void adam_element(float p, float m, float v, float g, const AdamCoefficients& c, float& p_out, float& m_out,
                         float& v_out) {
  const float gi = g * c.grad_scale;
  const float m1 = m * c.beta1 + gi * c.one_minus_beta1;
  const float v1 = v * c.beta2 + (gi * gi) * c.one_minus_beta2;
  const float denominator = std::sqrt(v1) / c.sqrt_correction2 + c.epsilon;
  p_out = p - (m1 / denominator) * c.step_size;
  m_out = m1;
  v_out = v1;
}

DIFFPRUNE_CLONES void adam_loop(const float* p, const float* m, const float* v, const float* g, float* p_out,
                                float* m_out, float* v_out, std::ptrdiff_t n, AdamCoefficients c) {
  for (std::ptrdiff_t i = 0; i < n; ++i) adam_element(p[i], m[i], v[i], g[i], c, p_out[i], m_out[i], v_out[i]);
}

// The same step written back into p, m and v: one read and one write per array, nothing allocated.
// (A separate loop: with outputs equal to inputs the compiler could not prove the arrays apart.)
DIFFPRUNE_CLONES void adam_in_place_loop(float* p, float* m, float* v, const float* g, std::ptrdiff_t n,
                                         AdamCoefficients c) {
  for (std::ptrdiff_t i = 0; i < n; ++i) adam_element(p[i], m[i], v[i], g[i], c, p[i], m[i], v[i]);
}

DIFFPRUNE_CLONES double sum_squares_loop(const float* x, std::ptrdiff_t n) {
  // Eight float partial sums per block of 1024 (vectorised), accumulated in double across blocks.
  double total = 0;
  for (std::ptrdiff_t b = 0; b < n; b += 1024) {
    const std::ptrdiff_t e = std::min<std::ptrdiff_t>(n, b + 1024);
    float partial[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    std::ptrdiff_t i = b;
    for (; i + 8 <= e; i += 8)
      for (int j = 0; j < 8; ++j) partial[j] += x[i + j] * x[i + j];
    double block = 0;
    for (int j = 0; j < 8; ++j) block += partial[j];
    for (; i < e; ++i) block += static_cast<double>(x[i]) * x[i];
    total += block;
  }
  return total;
}

// σ(x − shift) into sigma, and Σσ: float partial sums per block of 1024, blocks added in double.
DIFFPRUNE_CLONES double sum_sigmoid_loop(const float* x, float* sigma, std::ptrdiff_t n, float shift) {
  double total = 0;
  for (std::ptrdiff_t b = 0; b < n; b += 1024) {
    const std::ptrdiff_t e = std::min<std::ptrdiff_t>(n, b + 1024);
    for (std::ptrdiff_t i = b; i < e; ++i) sigma[i] = 1.0f / (1.0f + fast_exp(shift - x[i]));
    float partial[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    std::ptrdiff_t i = b;
    for (; i + 8 <= e; i += 8)
      for (int j = 0; j < 8; ++j) partial[j] += sigma[i + j];
    double block = 0;
    for (int j = 0; j < 8; ++j) block += partial[j];
    for (; i < e; ++i) block += sigma[i];
    total += block;
  }
  return total;
}

DIFFPRUNE_CLONES void sum_sigmoid_grad_loop(const float* sigma, float* dx, std::ptrdiff_t n, float dy) {
  for (std::ptrdiff_t i = 0; i < n; ++i) dx[i] = dy * sigma[i] * (1.0f - sigma[i]);
}

}  // namespace

void adam(const float* p, const float* m, const float* v, const float* g, float* p_out, float* m_out, float* v_out,
          std::ptrdiff_t n, const AdamCoefficients& c) {
  const bool in_place = p_out == p && m_out == m && v_out == v;
  parallel_range(n, 8, [&](std::ptrdiff_t b, std::ptrdiff_t e) {
    if (in_place) {
      adam_in_place_loop(p_out + b, m_out + b, v_out + b, g + b, e - b, c);
    } else {
      adam_loop(p + b, m + b, v + b, g + b, p_out + b, m_out + b, v_out + b, e - b, c);
    }
  });
}

namespace {

// Σ over [0, n) of body(begin, end) (a double), split across the pool in chunks of whole blocks of
// 1024, so the result does not depend on the thread count.
template <typename F>
double block_parallel_sum(std::ptrdiff_t n, std::ptrdiff_t threshold, F&& body) {
  const int threads = get_threads();
  if (threads == 1 || n < threshold) return body(0, n);
  std::vector<double> partial(threads, 0.0);
  parallel_for(threads, [&](int t) {
    const std::ptrdiff_t blocks = (n + 1023) / 1024;
    const std::ptrdiff_t begin = std::min(n, blocks * t / threads * 1024);
    const std::ptrdiff_t end = std::min(n, blocks * (t + 1) / threads * 1024);
    if (begin < end) partial[t] = body(begin, end);
  });
  double total = 0;
  for (double value : partial) total += value;
  return total;
}

}  // namespace

double sum_squares(const float* x, std::ptrdiff_t n) {
  return block_parallel_sum(n, 1 << 18, [&](std::ptrdiff_t b, std::ptrdiff_t e) { return sum_squares_loop(x + b, e - b); });
}

double sum_sigmoid(const float* x, float* sigma, std::ptrdiff_t n, float shift) {
  return block_parallel_sum(
      n, 1 << 16, [&](std::ptrdiff_t b, std::ptrdiff_t e) { return sum_sigmoid_loop(x + b, sigma + b, e - b, shift); });
}

void sum_sigmoid_grad(const float* sigma, float* dx, std::ptrdiff_t n, float dy) {
  parallel_range(n, 2, [&](std::ptrdiff_t b, std::ptrdiff_t e) { sum_sigmoid_grad_loop(sigma + b, dx + b, e - b, dy); });
}

void scatter_add(float* target, std::ptrdiff_t target_len, const uint32_t* indices, const float* values,
                 std::ptrdiff_t n, float scale) {
  // Sorted or not, the positions are scattered over a large array: each add is a cache miss. The
  // loads are independent, so prefetching a fixed distance ahead keeps many misses in flight.
  constexpr std::ptrdiff_t kAhead = 24;
  auto body = [&](std::ptrdiff_t b, std::ptrdiff_t e) {
    for (std::ptrdiff_t i = b; i < e; ++i) {
      if (i + kAhead < e) __builtin_prefetch(target + indices[i + kAhead], 1, 0);
      target[indices[i]] += values[i] * scale;
    }
  };
  (void)target_len;
  // Threads only split sorted runs safely when a position cannot appear in two chunks: the caller
  // guarantees strictly increasing indices (sparse-diff's invariant) before asking for threads.
  parallel_range(n, 16, body);
}

}  // namespace diffprune
