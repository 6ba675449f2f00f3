#pragma once

#include <cstddef>
#include <vector>

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

// The depth of a packed block of B (the gemm's kc).
constexpr int kPackDepth = 256;

// B (k x n) packed once in the micro-kernel's panel layout, for many products with different A (and
// patched in place between them: `at(p, j)` is element (p, j)). Bound to the micro-kernel active when
// packed (gemm_packed runs that one); gemm_packed gives the same bits as gemm with the same B and kernel.
struct PackedB {
  const void* kernel = nullptr;
  int k = 0, n = 0, nr = 0, nr_shift = 0;
  std::ptrdiff_t padded = 0;  // n rounded up to a multiple of nr
  std::vector<float> data;
  // Where element (p, j) of B lives in data: the kc-deep blocks one after another (block p0 holds
  // kc x padded), each in nr-column micro-panels (nr a power of two).
  std::ptrdiff_t at(int p, int j) const {
    const int p0 = p / kPackDepth * kPackDepth;
    const int kc = k - p0 < kPackDepth ? k - p0 : kPackDepth;
    return static_cast<std::ptrdiff_t>(p0) * padded + static_cast<std::ptrdiff_t>(j >> nr_shift) * nr * kc +
           static_cast<std::ptrdiff_t>(p - p0) * nr + (j & (nr - 1));
  }
};
void pack_matrix_b(MatrixView b, int k, int n, PackedB& out);
// The layout pack_matrix_b gives a k x n B with the active micro-kernel (every field but data): where
// an element will live (`at`), e.g. to compute positions once for many packs.
void describe_packed_b(int k, int n, PackedB& out);
// C (m x n, leading dimension ldc) = A (m x k) * B, B packed by pack_matrix_b. Single-threaded.
void gemm_packed(int m, MatrixView a, const PackedB& b, float* c, std::ptrdiff_t ldc);

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
