#pragma once

#include <cstddef>

namespace diffprune {

// A strided matrix view: element (i, j) is data[i * row_stride + j * col_stride].
struct MatrixView {
  const float* data;
  std::ptrdiff_t row_stride;
  std::ptrdiff_t col_stride;
};

// C (m x n, row-major, leading dimension ldc) = A (m x k) * B (k x n), for one matrix.
// Single-threaded; the caller splits work across threads.
void gemm(int m, int n, int k, MatrixView a, MatrixView b, float* c, std::ptrdiff_t ldc);

// tfjs BatchMatMul semantics: a is [batchA, M, K] (or [batchA, K, M] when transpose_a), b is
// [batchB, K, N] (or [batchB, N, K]), c is [batch, M, N]; batch index bi reads a[bi % batchA] and
// b[bi % batchB]. Uses the thread pool.
void batch_matmul(const float* a, const float* b, float* c, int batch, int batch_a, int batch_b, int m,
                  int n, int k, bool transpose_a, bool transpose_b);

// Which micro-kernel runs: "avx512", "avx2+fma" or "generic".
const char* gemm_kernel_name();
// Forces a kernel (for tests and benchmarks): "avx512", "avx2" or "generic"; false if unsupported.
bool set_gemm_kernel(const char* name);

}  // namespace diffprune
