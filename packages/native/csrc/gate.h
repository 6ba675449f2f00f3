// The hard-concrete gated diff θ = θ0 + z·z_g·w for the whole model and its gradient
// (DiffpruneGatedDiffs / DiffpruneGatedDiffsGrad, contract in @diffprune/core's kernel-names.ts),
// compiled. Arithmetic in double where the JS kernels (@diffprune/runtime) use double, without
// contraction into FMA.
#pragma once

#include <cstddef>
#include <cstdint>

namespace diffprune {

struct GateParams {
  double beta, left, right, u_low, u_high;
};

}  // namespace diffprune

namespace diffprune {

// One gated tensor of the fused multi-tensor op (@diffprune/hard-concrete's DiffpruneGatedDiffs):
// θ = base + z·group_gate·w for every element, or for the rows in `rows` only (θ is then
// [row_count, row_size], row r being the tensor's row rows[r]); and the expected-L0 sum Σσ(logα − shift)
// over every element. Noise: u (when not null) or the counter-based uniforms of seed, taken at the
// element's index in the whole tensor.
struct FusedGateTensor {
  const float* base;  // forward only
  const float* w;
  const float* log_alpha;
  const float* u;        // null: the counter-based uniforms of seed
  const int32_t* rows;   // null: every element
  std::ptrdiff_t size;   // elements of the whole tensor
  std::ptrdiff_t row_count;
  std::ptrdiff_t row_size;
  uint32_t seed;
  double group_gate;
};

// A tensor's group gate from its logα_g and noise u_g (one element each), as the JS kernels compute it:
// z_g like any entry's gate (double; e = e^(−logα_g) rounded to float32, as the entries read it), its slope
// 1[0 < z_g < 1]·(r − l)·s(1 − s)/β with s = (z_g − l)/(r − l) from the float32 z_g, and σ(logα_g − shift);
// each rounded to float32.
struct GroupGate {
  float gate, slope, sigma;
};
GroupGate group_gate(float log_alpha, float u, const GateParams& p, double shift);

// Writes θ; returns Σσ(logα − shift) over the whole tensor (float partial sums per block of 1024 from the
// tensor's start, blocks added in double: the native SumSigmoid kernel's order).
double gated_diffs_forward(const FusedGateTensor& t, float* theta, const GateParams& p, float shift);

struct FusedGateSums {
  double group_dot;  // Σ dy·w·z
  double sigma_sum;  // Σσ(logα − shift)
};

// Writes dw and dlogα over the whole tensor (zero / the penalty term outside `rows`):
//   dw = dy·z·group_gate,  dlogα = [1[0<z<1]·dy·w·(group_gate·(r−l)/β)·s(1−s)] + penalty·σ(1−σ)
// where the bracket is rounded to float32 before the float32 penalty term is added (the unfused ops'
// order). z is recomputed from logα and the noise, exactly as the forward computed it.
FusedGateSums gated_diffs_backward(const FusedGateTensor& t, const float* dy, float* dw, float* dlog_alpha,
                                   const GateParams& p, float shift, float penalty);

}  // namespace diffprune
