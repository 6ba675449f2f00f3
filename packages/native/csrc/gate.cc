// No contraction of a·b + c into one rounding: the results must equal the JS kernel's to the bit.
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include "gate.h"

#include <algorithm>
#include <cmath>

#include "counter_uniform.h"
#include "pool.h"

namespace diffprune {
namespace {

// max(x, 0) as the JS kernel computes it: (x + |x|)·0.5.
inline double relu(double x) { return (x + std::fabs(x)) * 0.5; }

template <bool kGivenU, bool kGivenExp>
void forward_range(float* theta, float* z, const float* base, const float* w, const float* log_alpha,
                   const float* exp_neg_log_alpha, const float* u, UniformKey key, double group_gate,
                   const GateParams& p, std::ptrdiff_t begin, std::ptrdiff_t end) {
  const double scale = p.right - p.left;
  const bool unit_beta = p.beta == 1.0;
  const double inverse_beta = 1.0 / p.beta;
  for (std::ptrdiff_t i = begin; i < end; ++i) {
    const double raw = kGivenU ? static_cast<double>(u[i]) : uniform_at(static_cast<uint32_t>(i), key);
    const double ui = std::min(std::max(raw, p.u_low), p.u_high);
    double s;
    if (unit_beta) {
      const double e = kGivenExp ? static_cast<double>(exp_neg_log_alpha[i]) : std::exp(-static_cast<double>(log_alpha[i]));
      s = ui / (ui + (1 - ui) * e);
    } else {
      s = 1 / (1 + std::exp(-(std::log(ui / (1 - ui)) + static_cast<double>(log_alpha[i])) * inverse_beta));
    }
    const double positive = relu(s * scale + p.left);
    const double zi = positive - relu(positive - 1);
    z[i] = static_cast<float>(zi);
    theta[i] = static_cast<float>(static_cast<double>(base[i]) + zi * group_gate * static_cast<double>(w[i]));
  }
}

}  // namespace

void gated_diff_forward(float* theta, float* z, const float* base, const float* w, const float* log_alpha,
                        const float* exp_neg_log_alpha, const float* u, uint32_t seed, double group_gate,
                        const GateParams& p, std::ptrdiff_t n) {
  const UniformKey key = uniform_key(seed);
  const bool given_u = u != nullptr;
  const bool given_exp = exp_neg_log_alpha != nullptr && p.beta == 1.0;
  const int threads = get_threads();
  const int tasks = (threads == 1 || n < (1 << 15)) ? 1 : threads * 4;
  auto run = [&](std::ptrdiff_t b, std::ptrdiff_t e) {
    if (given_u && given_exp)
      forward_range<true, true>(theta, z, base, w, log_alpha, exp_neg_log_alpha, u, key, group_gate, p, b, e);
    else if (given_u)
      forward_range<true, false>(theta, z, base, w, log_alpha, exp_neg_log_alpha, u, key, group_gate, p, b, e);
    else if (given_exp)
      forward_range<false, true>(theta, z, base, w, log_alpha, exp_neg_log_alpha, u, key, group_gate, p, b, e);
    else
      forward_range<false, false>(theta, z, base, w, log_alpha, exp_neg_log_alpha, u, key, group_gate, p, b, e);
  };
  if (tasks == 1) {
    run(0, n);
    return;
  }
  parallel_for(tasks, [&](int t) { run(n * t / tasks, n * (t + 1) / tasks); });
}

double gated_diff_backward(float* dw, float* dlog_alpha, const float* dy, const float* w, const float* z,
                           double group_gate, const GateParams& p, std::ptrdiff_t n) {
  const double scale = p.right - p.left;
  const double inverse_scale = 1 / scale;
  const double factor = (group_gate * scale) / p.beta;
  double group_dot = 0;
  // One thread, in order: Σ dy·w·z is summed exactly as the JS kernel sums it.
  for (std::ptrdiff_t i = 0; i < n; ++i) {
    const double zi = z[i];
    const double dyi = dy[i];
    const double dyw = dyi * static_cast<double>(w[i]);
    dw[i] = static_cast<float>(dyi * zi * group_gate);
    group_dot += dyw * zi;
    const double s = (zi - p.left) * inverse_scale;
    const double inside = (zi > 0 && zi < 1) ? 1.0 : 0.0;
    dlog_alpha[i] = static_cast<float>(inside * dyw * factor * s * (1 - s));
  }
  return group_dot;
}

}  // namespace diffprune
