#include "sparse_delta.h"

#include <cstring>
#include <vector>

#include "pool.h"

namespace diffprune {

namespace {

constexpr std::ptrdiff_t kBlock = 8;  // tokens per block: one AVX register

// One batch row: its tokens transposed to [in][stride] (a pair's inputs over a block of tokens are
// then contiguous: the multiply-add is a vectorised axpy), the pairs accumulated block by block into
// [out][stride] — a run of pairs with one output in a local accumulator (consecutive pairs of a sorted
// δ share their output: adding each straight into memory would chain every add through a store) —
// and transposed back into out.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("arch=haswell", "default")))
#endif
void row_delta(float* out, const float* x, const int32_t* outs, const int32_t* ins, const float* values,
               std::ptrdiff_t count, std::ptrdiff_t length, std::ptrdiff_t in_features, std::ptrdiff_t out_features,
               std::vector<float>& scratch) {
  const std::ptrdiff_t stride = (length + kBlock - 1) / kBlock * kBlock;  // padding: zeros, never read back
  scratch.assign(static_cast<size_t>((in_features + out_features) * stride), 0.0f);
  float* xt = scratch.data();
  float* acc = xt + in_features * stride;
  for (std::ptrdiff_t t = 0; t < length; ++t)
    for (std::ptrdiff_t j = 0; j < in_features; ++j) xt[j * stride + t] = x[t * in_features + j];
  for (std::ptrdiff_t block = 0; block < stride; block += kBlock) {
    std::ptrdiff_t k = 0;
    while (k < count) {
      const int32_t i = outs[k];
      float local[kBlock] = {};
      for (; k < count && outs[k] == i; ++k) {
        const float v = values[k];
        const float* __restrict source = xt + ins[k] * stride + block;
        for (int u = 0; u < kBlock; ++u) local[u] += v * source[u];
      }
      float* __restrict target = acc + i * stride + block;
      for (int u = 0; u < kBlock; ++u) target[u] += local[u];
    }
  }
  for (std::ptrdiff_t t = 0; t < length; ++t)
    for (std::ptrdiff_t i = 0; i < out_features; ++i) out[t * out_features + i] = acc[i * stride + t];
}

}  // namespace

void sparse_row_delta(float* out, const float* x, const int32_t* rows, const int32_t* outs, const int32_t* ins,
                      const float* values, std::ptrdiff_t pairs, std::ptrdiff_t batch, std::ptrdiff_t length,
                      std::ptrdiff_t in_features, std::ptrdiff_t out_features) {
  // Each row's pairs as one contiguous range: as given when the rows are in order (serving builds them
  // so), else copies grouped by a stable counting sort (any input order).
  std::vector<std::ptrdiff_t> start(static_cast<size_t>(batch + 1), 0);
  bool grouped = true;
  for (std::ptrdiff_t p = 0; p < pairs; ++p) {
    ++start[rows[p] + 1];
    if (p > 0 && rows[p] < rows[p - 1]) grouped = false;
  }
  for (std::ptrdiff_t b = 0; b < batch; ++b) start[b + 1] += start[b];
  std::vector<int32_t> sorted_outs, sorted_ins;
  std::vector<float> sorted_values;
  if (!grouped) {
    sorted_outs.resize(static_cast<size_t>(pairs));
    sorted_ins.resize(static_cast<size_t>(pairs));
    sorted_values.resize(static_cast<size_t>(pairs));
    std::vector<std::ptrdiff_t> next(start.begin(), start.end() - 1);
    for (std::ptrdiff_t p = 0; p < pairs; ++p) {
      const std::ptrdiff_t q = next[rows[p]]++;
      sorted_outs[q] = outs[p];
      sorted_ins[q] = ins[p];
      sorted_values[q] = values[p];
    }
    outs = sorted_outs.data();
    ins = sorted_ins.data();
    values = sorted_values.data();
  }
  const std::ptrdiff_t row_in = length * in_features, row_out = length * out_features;
  const auto run = [&](std::ptrdiff_t begin, std::ptrdiff_t end) {
    std::vector<float> scratch;
    for (std::ptrdiff_t b = begin; b < end; ++b) {
      const std::ptrdiff_t first = start[b], count = start[b + 1] - first;
      if (count == 0)
        std::memset(out + b * row_out, 0, sizeof(float) * static_cast<size_t>(row_out));
      else
        row_delta(out + b * row_out, x + b * row_in, outs + first, ins + first, values + first, count, length,
                  in_features, out_features, scratch);
    }
  };
  // A row's work is about its pairs × tokens.
  parallel_range(batch, pairs / (batch > 0 ? batch : 1) * length + 1, run);
}

}  // namespace diffprune
