#pragma once

#include <cstddef>
#include <cstdint>

namespace diffprune {

// out[ids[r], :] += values[r, :] for every row r (rows = count of ids); ids outside
// [0, segments) are dropped, as in tfjs. out must be zeroed by the caller.
void segment_sum(const float* values, const int32_t* ids, std::ptrdiff_t rows, std::ptrdiff_t inner,
                 std::ptrdiff_t segments, float* out);

enum class BinaryOp : int {
  kAdd = 0,
  kSub = 1,
  kMul = 2,
  kDiv = 3,
  kMaximum = 4,
  kMinimum = 5,
  kSquaredDifference = 6,
  // Comparisons write 0/1 bytes (tfjs bool).
  kGreater = 16,
  kGreaterEqual = 17,
  kLess = 18,
  kLessEqual = 19,
  kEqual = 20,
  kNotEqual = 21,
};

// out = a op b with broadcasting: out has `rank` dims `shape`; a and b are read at
// sum(index[d] * stride[d]) (stride 0 on a broadcast dimension). out is float, or bytes for
// comparisons.
void binary(BinaryOp op, const float* a, const float* b, void* out, int rank, const int64_t* shape,
            const int64_t* a_strides, const int64_t* b_strides);

enum class UnaryOp : int {
  kExp = 0,
  kErf = 1,
  kTanh = 2,
  kSquare = 3,
  kSqrt = 4,
  kRsqrt = 5,
  kNeg = 6,
  kAbs = 7,
  kLog = 8,
  kSigmoid = 9,
  kRelu = 10,
  kReciprocal = 11,
};

void unary(UnaryOp op, const float* x, float* out, std::ptrdiff_t n);

// out[o, i] = sum (or max) over r of x[o, r, i]: x viewed as [outer, reduce, inner].
void reduce_sum(const float* x, float* out, std::ptrdiff_t outer, std::ptrdiff_t reduce, std::ptrdiff_t inner,
                float scale);
void reduce_max(const float* x, float* out, std::ptrdiff_t outer, std::ptrdiff_t reduce, std::ptrdiff_t inner);

// Row-wise softmax over the last dimension of [rows, cols].
void softmax(const float* x, float* out, std::ptrdiff_t rows, std::ptrdiff_t cols);

// out = transpose(x, perm) for x of `rank` dims `shape` (32-bit elements).
void transpose(const uint32_t* x, uint32_t* out, int rank, const int64_t* shape, const int64_t* perm);

// out[i, :] = params[indices[i], :] for rows of `inner` 32-bit elements; indices outside
// [0, rows) give zeros (tfjs cpu throws earlier for those).
void gather_rows(const uint32_t* params, std::ptrdiff_t rows, std::ptrdiff_t inner, const int32_t* indices,
                 std::ptrdiff_t count, uint32_t* out);

}  // namespace diffprune

namespace diffprune {

// Copies the box `region` (rank dims) of 32-bit elements from src (dims src_shape) starting at
// src_begin into dst (dims dst_shape) starting at dst_begin: Slice, and Pad's interior.
void copy_region(const uint32_t* src, const int64_t* src_shape, const int64_t* src_begin, uint32_t* dst,
                 const int64_t* dst_shape, const int64_t* dst_begin, const int64_t* region, int rank);

}  // namespace diffprune

namespace diffprune {

// One Adam step (PyTorch's formula, weight decay 0), elementwise in the order of the trainer's tfjs
// ops (1 − β given, rounded from double as tfjs does), with g scaled first (g·grad_scale, global-norm
// clipping): m1 = β1·m + (1−β1)·g; v1 = β2·v + (1−β2)·g²; p1 = p − (m1 / (√v1 / c2 + ε))·step_size.
struct AdamCoefficients {
  float beta1, one_minus_beta1, beta2, one_minus_beta2, step_size, sqrt_correction2, epsilon, grad_scale;
};
// The outputs may be p, m and v themselves (all three): the step is then done in place.
void adam(const float* p, const float* m, const float* v, const float* g, float* p_out, float* m_out, float* v_out,
          std::ptrdiff_t n, const AdamCoefficients& c);

// Σ x², accumulated in double over blocks of 1024 (the same result for every thread count).
double sum_squares(const float* x, std::ptrdiff_t n);

// The expected-L0 penalty's hot path: sigma = σ(x − shift) and Σ sigma (double across blocks of
// 1024, the same for every thread count); its gradient dx = dy·σ(1 − σ).
double sum_sigmoid(const float* x, float* sigma, std::ptrdiff_t n, float shift);
void sum_sigmoid_grad(const float* sigma, float* dx, std::ptrdiff_t n, float dy);

// target[indices[i]] += values[i]·scale, with software prefetch; indices strictly increasing (so the
// threads' chunks never touch one position twice) and in range (checked by the caller).
void scatter_add(float* target, std::ptrdiff_t target_len, const uint32_t* indices, const float* values,
                 std::ptrdiff_t n, float scale);

}  // namespace diffprune
