// The hard-concrete gated diff θ = θ0 + z·z_g·w and its gradient (@diffprune/hard-concrete's
// DiffpruneGatedDiff / DiffpruneGatedDiffGrad kernels), compiled. Arithmetic in double in the same
// order as hard-concrete's JS loops, without contraction into FMA, so with β = 1 and e^(−log α) given
// (the trainer's case) the outputs are bit-identical to the JS kernel's.
#pragma once

#include <cstddef>
#include <cstdint>

namespace diffprune {

struct GateParams {
  double beta, left, right, u_low, u_high;
};

// theta = base + z·group_gate·w and z, the element gate, from u (or, when u is null, the
// counter-based uniforms of seed: @diffprune/core's uniformAt, see counter_uniform.h) and e^(−log α) (exp_neg_log_alpha;
// when null, computed from log_alpha).
void gated_diff_forward(float* theta, float* z, const float* base, const float* w, const float* log_alpha,
                        const float* exp_neg_log_alpha, const float* u, uint32_t seed, double group_gate,
                        const GateParams& p, std::ptrdiff_t n);

// dW = dy·z·group_gate, dlogα = 1[0<z<1]·dy·w·(group_gate·(r−l)/β)·s(1−s) with s = (z−l)/(r−l);
// returns Σ dy·w·z (the group gate's upstream gradient), summed in order in double.
double gated_diff_backward(float* dw, float* dlog_alpha, const float* dy, const float* w, const float* z,
                           double group_gate, const GateParams& p, std::ptrdiff_t n);

}  // namespace diffprune
