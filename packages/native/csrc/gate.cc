// No contraction of a·b + c into one rounding: the results must equal the JS kernel's to the bit.
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include "gate.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "counter_uniform.h"
#include "pool.h"
#include "vector_math.h"

namespace diffprune {
namespace {

// max(x, 0) as the JS kernel computes it: (x + |x|)·0.5.
inline double relu(double x) { return (x + std::fabs(x)) * 0.5; }

}  // namespace

// ---- The fused multi-tensor op (gated_diffs_*) ----------------------------------------------------
namespace {

constexpr std::ptrdiff_t kBlock = 1024;

// The block's noise, clamped, in double (as uniform_at / the JS kernels compute it): from u or the seed.
DIFFPRUNE_WIDE_CLONES void noise_block(double* out, const float* u, std::ptrdiff_t first, std::ptrdiff_t n, UniformKey key,
                                  double low, double high) {
  if (u != nullptr) {
    for (std::ptrdiff_t k = 0; k < n; ++k) out[k] = std::min(std::max(static_cast<double>(u[first + k]), low), high);
  } else {
    for (std::ptrdiff_t k = 0; k < n; ++k)
      out[k] = std::min(std::max(uniform_at(static_cast<uint32_t>(first + k), key), low), high);
  }
}

// e^(−logα) (the native Exp kernel's float32 value) and σ(logα − shift) = 1/(1 + e^(shift − logα)).
DIFFPRUNE_WIDE_CLONES void exp_block(float* e, float* sigma, const float* log_alpha, std::ptrdiff_t n, float shift) {
  for (std::ptrdiff_t k = 0; k < n; ++k) e[k] = fast_exp(-log_alpha[k]);
  if (shift == 0.0f) {
    for (std::ptrdiff_t k = 0; k < n; ++k) sigma[k] = 1.0f / (1.0f + e[k]);
  } else {
    for (std::ptrdiff_t k = 0; k < n; ++k) sigma[k] = 1.0f / (1.0f + fast_exp(shift - log_alpha[k]));
  }
}

// Σ of a block of σ: eight float partial sums, then double (sum_sigmoid's order within a block).
DIFFPRUNE_WIDE_CLONES double sum_block(const float* sigma, std::ptrdiff_t n) {
  float partial[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  std::ptrdiff_t k = 0;
  for (; k + 8 <= n; k += 8)
    for (int j = 0; j < 8; ++j) partial[j] += sigma[k + j];
  double block = 0;
  for (int j = 0; j < 8; ++j) block += partial[j];
  for (; k < n; ++k) block += sigma[k];
  return block;
}

// z from the clamped noise and e^(−logα) (β = 1), or from logα (other β): the JS kernel's formula.
inline double gate_value(double ui, float e, float log_alpha, const GateParams& p, double scale) {
  double s;
  if (p.beta == 1.0) {
    s = ui / (ui + (1 - ui) * static_cast<double>(e));
  } else {
    s = 1 / (1 + std::exp(-(std::log(ui / (1 - ui)) + static_cast<double>(log_alpha)) / p.beta));
  }
  const double positive = relu(s * scale + p.left);
  return positive - relu(positive - 1);
}

DIFFPRUNE_WIDE_CLONES void theta_block(float* theta, const float* base, const float* w, const double* ui, const float* e,
                                  std::ptrdiff_t n, double group_gate, double scale, double left) {
  // β = 1 (vectorised): gate_value inlined.
  for (std::ptrdiff_t k = 0; k < n; ++k) {
    const double s = ui[k] / (ui[k] + (1 - ui[k]) * static_cast<double>(e[k]));
    const double positive = relu(s * scale + left);
    const double zi = positive - relu(positive - 1);
    theta[k] = static_cast<float>(static_cast<double>(base[k]) + zi * group_gate * static_cast<double>(w[k]));
  }
}

struct BlockSums {
  double group_dot;
  double sigma_sum;
};

// dw, dlogα (+ penalty·σ(1 − σ)) and the products dy·w·z (into dot) for β = 1, vectorised: z recomputed
// as the forward computes it, rounded to float32 as the unfused backward read it. (`__restrict__`: with
// eight arrays the compiler would otherwise give up on proving them apart at run time.)
DIFFPRUNE_WIDE_CLONES void grad_block(float* __restrict__ dw, float* __restrict__ dlog_alpha, double* __restrict__ dot,
                                 const float* __restrict__ dy, const float* __restrict__ w,
                                 const double* __restrict__ ui, const float* __restrict__ e,
                                 const float* __restrict__ sigma, std::ptrdiff_t n,
                                 double group_gate, double scale, double left, double factor, float penalty) {
  const double inverse_scale = 1 / scale;
  for (std::ptrdiff_t k = 0; k < n; ++k) {
    const double s0 = ui[k] / (ui[k] + (1 - ui[k]) * static_cast<double>(e[k]));
    const double positive = relu(s0 * scale + left);
    const double zi = static_cast<double>(static_cast<float>(positive - relu(positive - 1)));
    const double dyi = dy[k];
    const double dyw = dyi * static_cast<double>(w[k]);
    dw[k] = static_cast<float>(dyi * zi * group_gate);
    dot[k] = dyw * zi;
    const double s = (zi - left) * inverse_scale;
    const double inside = (zi > 0 && zi < 1) ? 1.0 : 0.0;
    dlog_alpha[k] = static_cast<float>(inside * dyw * factor * s * (1 - s)) + penalty * sigma[k] * (1.0f - sigma[k]);
  }
}

// Σ of n doubles with four interleaved partial sums (vectorised; a fixed order, so deterministic).
DIFFPRUNE_WIDE_CLONES double sum_doubles(const double* x, std::ptrdiff_t n) {
  double partial[4] = {0, 0, 0, 0};
  std::ptrdiff_t k = 0;
  for (; k + 4 <= n; k += 4)
    for (int j = 0; j < 4; ++j) partial[j] += x[k + j];
  double total = (partial[0] + partial[1]) + (partial[2] + partial[3]);
  for (; k < n; ++k) total += x[k];
  return total;
}

DIFFPRUNE_WIDE_CLONES void penalty_grad_block(float* dlog_alpha, const float* sigma, std::ptrdiff_t n, float penalty) {
  for (std::ptrdiff_t k = 0; k < n; ++k) dlog_alpha[k] = penalty * sigma[k] * (1.0f - sigma[k]);
}

// θ of n consecutive entries from their clamped noise and e^(−logα): vectorised for β = 1, the scalar
// formula otherwise. Serves the dense blocks and the rows alike.
void theta_range(float* theta, const float* base, const float* w, const float* log_alpha, const double* ui,
                 const float* e, std::ptrdiff_t n, double group_gate, const GateParams& p, double scale) {
  if (p.beta == 1.0) {
    theta_block(theta, base, w, ui, e, n, group_gate, scale, p.left);
    return;
  }
  for (std::ptrdiff_t k = 0; k < n; ++k) {
    const double zi = gate_value(ui[k], e[k], log_alpha[k], p, scale);
    theta[k] = static_cast<float>(static_cast<double>(base[k]) + zi * group_gate * static_cast<double>(w[k]));
  }
}

// dw and dlogα (+ penalty·σ(1 − σ)) of n consecutive entries, and Σ dy·w·z: vectorised for β = 1, the
// scalar formula otherwise. Serves the dense blocks and the rows alike.
double grad_range(float* dw, float* dlog_alpha, const float* dy, const float* w, const float* log_alpha,
                  const double* ui, const float* e, const float* sigma, std::ptrdiff_t n, double group_gate,
                  const GateParams& p, double scale, double factor, float penalty) {
  if (p.beta == 1.0) {
    double dot[kBlock];
    grad_block(dw, dlog_alpha, dot, dy, w, ui, e, sigma, n, group_gate, scale, p.left, factor, penalty);
    return sum_doubles(dot, n);
  }
  const double inverse_scale = 1 / scale;
  double group_dot = 0;
  for (std::ptrdiff_t k = 0; k < n; ++k) {
    const double zi = static_cast<float>(gate_value(ui[k], e[k], log_alpha[k], p, scale));
    const double dyi = dy[k], dyw = dyi * static_cast<double>(w[k]);
    dw[k] = static_cast<float>(dyi * zi * group_gate);
    group_dot += dyw * zi;
    const double s = (zi - p.left) * inverse_scale;
    const double inside = (zi > 0 && zi < 1) ? 1.0 : 0.0;
    dlog_alpha[k] = static_cast<float>(inside * dyw * factor * s * (1 - s)) + penalty * sigma[k] * (1.0f - sigma[k]);
  }
  return group_dot;
}

// Runs body(block) for every block of 1024 of [0, n), over the pool for large n; returns the per-block
// results added in block order (so sums do not depend on the thread count).
template <typename F>
std::vector<BlockSums> for_blocks(std::ptrdiff_t n, F&& body) {
  const std::ptrdiff_t blocks = (n + kBlock - 1) / kBlock;
  std::vector<BlockSums> sums(static_cast<size_t>(blocks), BlockSums{0, 0});
  const int threads = get_threads();
  const int tasks = (threads == 1 || n < (1 << 15)) ? 1 : static_cast<int>(std::min<std::ptrdiff_t>(blocks, threads * 4));
  auto run = [&](std::ptrdiff_t first, std::ptrdiff_t last) {
    for (std::ptrdiff_t b = first; b < last; ++b) sums[static_cast<size_t>(b)] = body(b * kBlock, std::min(n, (b + 1) * kBlock));
  };
  if (tasks == 1) {
    run(0, blocks);
  } else {
    parallel_for(tasks, [&](int t) { run(blocks * t / tasks, blocks * (t + 1) / tasks); });
  }
  return sums;
}

// body(offset, i, n, e, sigma, ui) for every chunk (≤ 1,024 entries) of every requested row, in order, on
// this thread: i is the chunk's first entry in the whole tensor, offset its place in the rows-only θ / dy;
// e, σ and the clamped noise are the chunk's.
template <typename F>
void for_row_chunks(const FusedGateTensor& t, const GateParams& p, float shift, UniformKey key, F&& body) {
  for (std::ptrdiff_t r = 0; r < t.row_count; ++r) {
    const std::ptrdiff_t first = static_cast<std::ptrdiff_t>(t.rows[r]) * t.row_size;
    for (std::ptrdiff_t c = 0; c < t.row_size; c += kBlock) {
      const std::ptrdiff_t n = std::min(kBlock, t.row_size - c), i = first + c;
      float e[kBlock], sigma[kBlock];
      double ui[kBlock];
      exp_block(e, sigma, t.log_alpha + i, n, shift);
      noise_block(ui, t.u, i, n, key, p.u_low, p.u_high);
      body(r * t.row_size + c, i, n, e, sigma, ui);
    }
  }
}

BlockSums total(const std::vector<BlockSums>& sums) {
  BlockSums out{0, 0};
  for (const BlockSums& s : sums) {
    out.group_dot += s.group_dot;
    out.sigma_sum += s.sigma_sum;
  }
  return out;
}


}  // namespace

GroupGate group_gate(float log_alpha, float u, const GateParams& p, double shift) {
  const double scale = p.right - p.left;
  const float e = static_cast<float>(std::exp(-static_cast<double>(log_alpha)));
  const double ui = std::min(std::max(static_cast<double>(u), p.u_low), p.u_high);
  const float gate = static_cast<float>(gate_value(ui, e, log_alpha, p, scale));
  const double s = (static_cast<double>(gate) - p.left) / scale;
  const float slope = gate > 0 && gate < 1 ? static_cast<float>((scale * s * (1 - s)) / p.beta) : 0.0f;
  // σ(logα − shift) as the JS kernels' sigmaOf: from e when the shift is 0, else its own exp.
  const double sigma =
      shift == 0 ? 1 / (1 + static_cast<double>(e)) : 1 / (1 + std::exp(shift - static_cast<double>(log_alpha)));
  return GroupGate{gate, slope, static_cast<float>(sigma)};
}

double gated_diffs_forward(const FusedGateTensor& t, float* theta, const GateParams& p, float shift) {
  const double scale = p.right - p.left;
  const UniformKey key = uniform_key(t.seed);
  // Every element: σ for the penalty; θ too unless only some rows are asked for.
  const auto sums = for_blocks(t.size, [&](std::ptrdiff_t begin, std::ptrdiff_t end) {
    const std::ptrdiff_t n = end - begin;
    float e[kBlock], sigma[kBlock];
    exp_block(e, sigma, t.log_alpha + begin, n, shift);
    if (t.rows == nullptr) {
      double ui[kBlock];
      noise_block(ui, t.u, begin, n, key, p.u_low, p.u_high);
      theta_range(theta + begin, t.base + begin, t.w + begin, t.log_alpha + begin, ui, e, n, t.group_gate, p, scale);
    }
    return BlockSums{0, sum_block(sigma, n)};
  });
  if (t.rows != nullptr) {
    for_row_chunks(t, p, shift, key, [&](std::ptrdiff_t offset, std::ptrdiff_t i, std::ptrdiff_t n, const float* e,
                                         const float*, const double* ui) {
      theta_range(theta + offset, t.base + i, t.w + i, t.log_alpha + i, ui, e, n, t.group_gate, p, scale);
    });
  }
  return total(sums).sigma_sum;
}

FusedGateSums gated_diffs_backward(const FusedGateTensor& t, const float* dy, float* dw, float* dlog_alpha,
                                   const GateParams& p, float shift, float penalty) {
  const double scale = p.right - p.left;
  const double factor = (t.group_gate * scale) / p.beta;
  const UniformKey key = uniform_key(t.seed);
  const bool dense = t.rows == nullptr;
  const auto sums = for_blocks(t.size, [&](std::ptrdiff_t begin, std::ptrdiff_t end) {
    const std::ptrdiff_t n = end - begin;
    float e[kBlock], sigma[kBlock];
    exp_block(e, sigma, t.log_alpha + begin, n, shift);
    double group_dot = 0;
    if (!dense) {
      penalty_grad_block(dlog_alpha + begin, sigma, n, penalty);
      std::fill(dw + begin, dw + end, 0.0f);
    } else {
      double ui[kBlock];
      noise_block(ui, t.u, begin, n, key, p.u_low, p.u_high);
      group_dot = grad_range(dw + begin, dlog_alpha + begin, dy + begin, t.w + begin, t.log_alpha + begin, ui, e, sigma, n,
                             t.group_gate, p, scale, factor, penalty);
    }
    return BlockSums{group_dot, sum_block(sigma, n)};
  });
  BlockSums out = total(sums);
  if (!dense) {
    // The rows, in order (rows may repeat; their gradients add up): the gate terms (penalty 0: each entry's
    // penalty term is already in dlogα) added onto the row's entries.
    for_row_chunks(t, p, shift, key, [&](std::ptrdiff_t offset, std::ptrdiff_t i, std::ptrdiff_t n, const float* e,
                                         const float* sigma, const double* ui) {
      float row_dw[kBlock], row_dlog_alpha[kBlock];
      out.group_dot += grad_range(row_dw, row_dlog_alpha, dy + offset, t.w + i, t.log_alpha + i, ui, e, sigma, n,
                                  t.group_gate, p, scale, factor, 0.0f);
      for (std::ptrdiff_t k = 0; k < n; ++k) {
        dw[i + k] += row_dw[k];
        dlog_alpha[i + k] += row_dlog_alpha[k];
      }
    });
  }
  return FusedGateSums{out.group_dot, out.sigma_sum};
}

}  // namespace diffprune

