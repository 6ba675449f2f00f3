// Cache-blocked single-precision GEMM in the BLIS layout: B is packed into kc x nr micro-panels
// (kept in L3/L2), A into mr x kc micro-panels (L2), and a register-blocked micro-kernel computes
// one mr x nr tile of C. Packing takes any strides, so every transpose combination runs the same
// fast kernel. The micro-kernel is chosen at run time from what the CPU supports, so the binary
// is built for baseline x86-64 and never executes an instruction the machine lacks.
#include "gemm.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>

#include "pool.h"

#if defined(__x86_64__) || defined(_M_X64)
#define DIFFPRUNE_X86 1
#include <immintrin.h>
#endif

namespace diffprune {
namespace {

constexpr int kMC = 144;   // rows of A per packed block (multiple of every mr)
constexpr int kKC = kPackDepth;  // depth of a packed block
constexpr int kNC = 2048;  // columns of B per packed block (multiple of every nr)

using MicroKernel = void (*)(int kc, const float* a, const float* b, float* c, std::ptrdiff_t ldc,
                             bool accumulate);
// The first `rows` (1 … mr − 1) rows of a tile, from the same packed panels (A still mr rows a step):
// a short last row block (a GEMM of few rows: cross-task serving runs one per task slot, 7–20 tokens)
// costs its rows, not mr. Each row's sums are the full kernel's, in the same order: the same bits.
using EdgeKernel = void (*)(int rows, int kc, const float* a, const float* b, float* c, std::ptrdiff_t ldc,
                            bool accumulate);

struct Kernel {
  const char* name;
  int mr;
  int nr;
  MicroKernel run;
  EdgeKernel edge;  // null: short row blocks run the full kernel into a scratch tile
};

// Portable micro-kernel (the compiler vectorises it for the baseline ISA): the first R rows of an
// MR x NR tile (A packed MR rows a step); R = MR is the full tile, R < MR a short last row block.
template <int R, int MR, int NR>
void generic_rows(int kc, const float* a, const float* b, float* c, std::ptrdiff_t ldc, bool accumulate) {
  float acc[R][NR] = {};
  for (int p = 0; p < kc; ++p) {
    for (int i = 0; i < R; ++i) {
      const float ai = a[p * MR + i];
      for (int j = 0; j < NR; ++j) acc[i][j] += ai * b[p * NR + j];
    }
  }
  for (int i = 0; i < R; ++i) {
    float* row = c + i * ldc;
    if (accumulate) {
      for (int j = 0; j < NR; ++j) row[j] += acc[i][j];
    } else {
      for (int j = 0; j < NR; ++j) row[j] = acc[i][j];
    }
  }
}

void generic_edge(int rows, int kc, const float* a, const float* b, float* c, std::ptrdiff_t ldc, bool accumulate) {
  switch (rows) {
    case 1: return generic_rows<1, 6, 16>(kc, a, b, c, ldc, accumulate);
    case 2: return generic_rows<2, 6, 16>(kc, a, b, c, ldc, accumulate);
    case 3: return generic_rows<3, 6, 16>(kc, a, b, c, ldc, accumulate);
    case 4: return generic_rows<4, 6, 16>(kc, a, b, c, ldc, accumulate);
    default: return generic_rows<5, 6, 16>(kc, a, b, c, ldc, accumulate);
  }
}

#ifdef DIFFPRUNE_X86
// avx2_kernel's first R rows (A packed 6 rows a step): R × 2 ymm accumulators.
template <int R>
__attribute__((target("avx2,fma"), always_inline)) inline void avx2_rows(int kc, const float* a, const float* b,
                                                                         float* c, std::ptrdiff_t ldc,
                                                                         bool accumulate) {
  __m256 acc[R][2];
  for (int i = 0; i < R; ++i) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
  for (int p = 0; p < kc; ++p) {
    const __m256 b0 = _mm256_loadu_ps(b);
    const __m256 b1 = _mm256_loadu_ps(b + 8);
#pragma GCC unroll 6
    for (int i = 0; i < R; ++i) {
      const __m256 ai = _mm256_broadcast_ss(a + i);
      acc[i][0] = _mm256_fmadd_ps(ai, b0, acc[i][0]);
      acc[i][1] = _mm256_fmadd_ps(ai, b1, acc[i][1]);
    }
    a += 6;
    b += 16;
  }
  for (int i = 0; i < R; ++i) {
    float* row = c + i * ldc;
    if (accumulate) {
      _mm256_storeu_ps(row, _mm256_add_ps(_mm256_loadu_ps(row), acc[i][0]));
      _mm256_storeu_ps(row + 8, _mm256_add_ps(_mm256_loadu_ps(row + 8), acc[i][1]));
    } else {
      _mm256_storeu_ps(row, acc[i][0]);
      _mm256_storeu_ps(row + 8, acc[i][1]);
    }
  }
}

__attribute__((target("avx2,fma"))) void avx2_edge(int rows, int kc, const float* a, const float* b, float* c,
                                                   std::ptrdiff_t ldc, bool accumulate) {
  switch (rows) {
    case 1: return avx2_rows<1>(kc, a, b, c, ldc, accumulate);
    case 2: return avx2_rows<2>(kc, a, b, c, ldc, accumulate);
    case 3: return avx2_rows<3>(kc, a, b, c, ldc, accumulate);
    case 4: return avx2_rows<4>(kc, a, b, c, ldc, accumulate);
    default: return avx2_rows<5>(kc, a, b, c, ldc, accumulate);
  }
}

// 6 x 16 tile: 12 ymm accumulators, 2 for B, 1 broadcast of A.
__attribute__((target("avx2,fma"))) void avx2_kernel(int kc, const float* a, const float* b, float* c,
                                                     std::ptrdiff_t ldc, bool accumulate) {
  __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
  __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
  __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
  __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
  __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
  __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
  for (int p = 0; p < kc; ++p) {
    const __m256 b0 = _mm256_loadu_ps(b);
    const __m256 b1 = _mm256_loadu_ps(b + 8);
    __m256 ai = _mm256_broadcast_ss(a + 0);
    c00 = _mm256_fmadd_ps(ai, b0, c00);
    c01 = _mm256_fmadd_ps(ai, b1, c01);
    ai = _mm256_broadcast_ss(a + 1);
    c10 = _mm256_fmadd_ps(ai, b0, c10);
    c11 = _mm256_fmadd_ps(ai, b1, c11);
    ai = _mm256_broadcast_ss(a + 2);
    c20 = _mm256_fmadd_ps(ai, b0, c20);
    c21 = _mm256_fmadd_ps(ai, b1, c21);
    ai = _mm256_broadcast_ss(a + 3);
    c30 = _mm256_fmadd_ps(ai, b0, c30);
    c31 = _mm256_fmadd_ps(ai, b1, c31);
    ai = _mm256_broadcast_ss(a + 4);
    c40 = _mm256_fmadd_ps(ai, b0, c40);
    c41 = _mm256_fmadd_ps(ai, b1, c41);
    ai = _mm256_broadcast_ss(a + 5);
    c50 = _mm256_fmadd_ps(ai, b0, c50);
    c51 = _mm256_fmadd_ps(ai, b1, c51);
    a += 6;
    b += 16;
  }
  const __m256 rows[6][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
  for (int i = 0; i < 6; ++i) {
    float* row = c + i * ldc;
    if (accumulate) {
      _mm256_storeu_ps(row, _mm256_add_ps(_mm256_loadu_ps(row), rows[i][0]));
      _mm256_storeu_ps(row + 8, _mm256_add_ps(_mm256_loadu_ps(row + 8), rows[i][1]));
    } else {
      _mm256_storeu_ps(row, rows[i][0]);
      _mm256_storeu_ps(row + 8, rows[i][1]);
    }
  }
}

// 12 x 32 tile: 24 zmm accumulators, 2 for B, 1 broadcast of A.
__attribute__((target("avx512f"))) void avx512_kernel(int kc, const float* a, const float* b, float* c,
                                                      std::ptrdiff_t ldc, bool accumulate) {
  __m512 acc[12][2];
  for (int i = 0; i < 12; ++i) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
  for (int p = 0; p < kc; ++p) {
    const __m512 b0 = _mm512_loadu_ps(b);
    const __m512 b1 = _mm512_loadu_ps(b + 16);
#pragma GCC unroll 12
    for (int i = 0; i < 12; ++i) {
      const __m512 ai = _mm512_set1_ps(a[i]);
      acc[i][0] = _mm512_fmadd_ps(ai, b0, acc[i][0]);
      acc[i][1] = _mm512_fmadd_ps(ai, b1, acc[i][1]);
    }
    a += 12;
    b += 32;
  }
  for (int i = 0; i < 12; ++i) {
    float* row = c + i * ldc;
    if (accumulate) {
      _mm512_storeu_ps(row, _mm512_add_ps(_mm512_loadu_ps(row), acc[i][0]));
      _mm512_storeu_ps(row + 16, _mm512_add_ps(_mm512_loadu_ps(row + 16), acc[i][1]));
    } else {
      _mm512_storeu_ps(row, acc[i][0]);
      _mm512_storeu_ps(row + 16, acc[i][1]);
    }
  }
}
#endif

// nr must be a power of two (PackedB::at).
const Kernel kGeneric{"generic", 6, 16, generic_rows<6, 6, 16>, generic_edge};
#ifdef DIFFPRUNE_X86
const Kernel kAvx2{"avx2+fma", 6, 16, avx2_kernel, avx2_edge};
const Kernel kAvx512{"avx512", 12, 32, avx512_kernel, nullptr};
#endif

bool cpu_has(const char* feature) {
#ifdef DIFFPRUNE_X86
  __builtin_cpu_init();
  if (std::strcmp(feature, "avx2") == 0) return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (std::strcmp(feature, "avx512") == 0) return __builtin_cpu_supports("avx512f");
#endif
  return false;
}

const Kernel* best_kernel() {
#ifdef DIFFPRUNE_X86
  if (cpu_has("avx2")) return &kAvx2;
#endif
  return &kGeneric;
}

const Kernel* active_kernel = best_kernel();

struct AlignedDeleter {
  void operator()(float* p) const { std::free(p); }
};

// Per-thread packing buffers, sized for the largest kernel.
struct PackBuffers {
  std::unique_ptr<float, AlignedDeleter> a{static_cast<float*>(std::aligned_alloc(64, sizeof(float) * (kMC + 32) * kKC))};
  std::unique_ptr<float, AlignedDeleter> b{static_cast<float*>(std::aligned_alloc(64, sizeof(float) * kKC * (kNC + 32)))};
};

PackBuffers& buffers() {
  thread_local PackBuffers instance;
  return instance;
}

// Packs rows [i0, i0 + mc) x columns [p0, p0 + kc) of A into mr-row micro-panels, zero-padded.
void pack_a(const MatrixView& a, int m, int i0, int mc, int p0, int kc, int mr, float* dst) {
  for (int s = 0; s < mc; s += mr) {
    const int rows = std::min(mr, m - (i0 + s));
    if (a.col_stride == 1) {
      for (int r = 0; r < rows; ++r) {
        const float* src = a.data + (i0 + s + r) * a.row_stride + p0;
        for (int p = 0; p < kc; ++p) dst[p * mr + r] = src[p];
      }
    } else {
      for (int p = 0; p < kc; ++p) {
        const float* src = a.data + (p0 + p) * a.col_stride + (i0 + s) * a.row_stride;
        for (int r = 0; r < rows; ++r) dst[p * mr + r] = src[r * a.row_stride];
      }
    }
    for (int r = rows; r < mr; ++r)
      for (int p = 0; p < kc; ++p) dst[p * mr + r] = 0.0f;
    dst += mr * kc;
  }
}

// Packs rows [p0, p0 + kc) x columns [j0, j0 + nc) of B into nr-column micro-panels, zero-padded.
void pack_b(const MatrixView& b, int n, int p0, int kc, int j0, int nc, int nr, float* dst) {
  for (int t = 0; t < nc; t += nr) {
    const int cols = std::min(nr, n - (j0 + t));
    if (b.col_stride == 1) {
      for (int p = 0; p < kc; ++p) {
        const float* src = b.data + (p0 + p) * b.row_stride + j0 + t;
        float* out = dst + p * nr;
        std::memcpy(out, src, sizeof(float) * cols);
        for (int j = cols; j < nr; ++j) out[j] = 0.0f;
      }
    } else {
      for (int j = 0; j < cols; ++j) {
        const float* src = b.data + (j0 + t + j) * b.col_stride + p0 * b.row_stride;
        for (int p = 0; p < kc; ++p) dst[p * nr + j] = src[p * b.row_stride];
      }
      for (int j = cols; j < nr; ++j)
        for (int p = 0; p < kc; ++p) dst[p * nr + j] = 0.0f;
    }
    dst += nr * kc;
  }
}

// C block (mc x nc at c, leading dimension ldc) = (or +=, when accumulate) the packed A block (mc x kc,
// mr-row micro-panels) times the packed B block (kc x nc, nr-column micro-panels), tile by tile.
void macro_block(const Kernel& kernel, int mc, int nc, int kc, const float* packed_a, const float* packed_b,
                 float* c, std::ptrdiff_t ldc, bool accumulate) {
  const int mr = kernel.mr, nr = kernel.nr;
  alignas(64) float edge[12 * 32];
  for (int jr = 0; jr < nc; jr += nr) {
    const int cols = std::min(nr, nc - jr);
    const float* panel_b = packed_b + static_cast<std::ptrdiff_t>(jr) * kc;
    for (int ir = 0; ir < mc; ir += mr) {
      const int rows = std::min(mr, mc - ir);
      const float* panel_a = packed_a + ir * kc;
      float* tile = c + ir * ldc + jr;
      if (rows == mr && cols == nr) {
        kernel.run(kc, panel_a, panel_b, tile, ldc, accumulate);
      } else if (cols == nr && kernel.edge != nullptr) {
        kernel.edge(rows, kc, panel_a, panel_b, tile, ldc, accumulate);
      } else {
        kernel.run(kc, panel_a, panel_b, edge, nr, false);
        for (int i = 0; i < rows; ++i) {
          float* out = tile + i * ldc;
          const float* in = edge + i * nr;
          if (accumulate) {
            for (int j = 0; j < cols; ++j) out[j] += in[j];
          } else {
            for (int j = 0; j < cols; ++j) out[j] = in[j];
          }
        }
      }
    }
  }
}

}  // namespace

void gemm(int m, int n, int k, MatrixView a, MatrixView b, float* c, std::ptrdiff_t ldc) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0) {
    for (int i = 0; i < m; ++i) std::memset(c + i * ldc, 0, sizeof(float) * n);
    return;
  }
  const Kernel& kernel = *active_kernel;
  const int mr = kernel.mr, nr = kernel.nr;
  PackBuffers& buf = buffers();
  float* packed_a = buf.a.get();
  float* packed_b = buf.b.get();

  for (int j0 = 0; j0 < n; j0 += kNC) {
    const int nc = std::min(kNC, n - j0);
    for (int p0 = 0; p0 < k; p0 += kKC) {
      const int kc = std::min(kKC, k - p0);
      const bool accumulate = p0 > 0;
      pack_b(b, n, p0, kc, j0, nc, nr, packed_b);
      for (int i0 = 0; i0 < m; i0 += kMC) {
        const int mc = std::min(kMC, m - i0);
        pack_a(a, m, i0, mc, p0, kc, mr, packed_a);
        macro_block(kernel, mc, nc, kc, packed_a, packed_b, c + i0 * ldc + j0, ldc, accumulate);
      }
    }
  }
}

void describe_packed_b(int k, int n, PackedB& out) {
  const int nr = active_kernel->nr;
  out.kernel = active_kernel;
  out.k = k;
  out.n = n;
  out.nr = nr;
  out.padded = static_cast<std::ptrdiff_t>((n + nr - 1) / nr) * nr;
  out.nr_shift = 0;
  while ((1 << out.nr_shift) < nr) ++out.nr_shift;
}

void pack_matrix_b(MatrixView b, int k, int n, PackedB& out) {
  describe_packed_b(k, n, out);
  const int nr = out.nr;
  const std::ptrdiff_t padded = out.padded;
  out.data.resize(static_cast<size_t>(padded * k));
  for (int p0 = 0; p0 < k; p0 += kKC) {
    const int kc = std::min(kKC, k - p0);
    pack_b(b, n, p0, kc, 0, static_cast<int>(padded), nr, out.data.data() + static_cast<std::ptrdiff_t>(p0) * padded);
  }
}

void gemm_packed(int m, MatrixView a, const PackedB& b, float* c, std::ptrdiff_t ldc) {
  const int n = b.n, k = b.k;
  if (m <= 0 || n <= 0) return;
  if (k <= 0) {
    for (int i = 0; i < m; ++i) std::memset(c + i * ldc, 0, sizeof(float) * n);
    return;
  }
  const Kernel& kernel = *static_cast<const Kernel*>(b.kernel);  // the one B was packed for
  const int mr = kernel.mr;
  float* packed_a = buffers().a.get();
  for (int p0 = 0; p0 < k; p0 += kKC) {
    const int kc = std::min(kKC, k - p0);
    const bool accumulate = p0 > 0;
    const float* packed_b = b.data.data() + static_cast<std::ptrdiff_t>(p0) * b.padded;
    for (int i0 = 0; i0 < m; i0 += kMC) {
      const int mc = std::min(kMC, m - i0);
      pack_a(a, m, i0, mc, p0, kc, mr, packed_a);
      macro_block(kernel, mc, n, kc, packed_a, packed_b, c + i0 * ldc, ldc, accumulate);
    }
  }
}

void batch_matmul(const float* a, const float* b, float* c, int batch, int batch_a, int batch_b, int m,
                  int n, int k, bool transpose_a, bool transpose_b) {
  const std::ptrdiff_t a_size = static_cast<std::ptrdiff_t>(m) * k;
  const std::ptrdiff_t b_size = static_cast<std::ptrdiff_t>(k) * n;
  const std::ptrdiff_t c_size = static_cast<std::ptrdiff_t>(m) * n;
  const std::ptrdiff_t a_rs = transpose_a ? 1 : k, a_cs = transpose_a ? m : 1;
  const std::ptrdiff_t b_rs = transpose_b ? 1 : n, b_cs = transpose_b ? k : 1;

  // Split into tasks: whole matrices when the batch is large, else row blocks (then column
  // blocks) of each matrix, so every thread has work. Small problems run on the calling thread.
  const int threads = get_threads();
  const double flops = 2.0 * batch * static_cast<double>(m) * n * k;
  int parts = 1;
  if (threads > 1 && flops > 4e6 && batch < 4 * threads) parts = (4 * threads + batch - 1) / batch;
  const int mr = active_kernel->mr, nr = active_kernel->nr;
  const int row_blocks = std::max(1, std::min(parts, (m + mr - 1) / mr));
  const int col_blocks = std::max(1, std::min((parts + row_blocks - 1) / row_blocks, (n + nr - 1) / nr));
  const int rows_per = ((m + row_blocks - 1) / row_blocks + mr - 1) / mr * mr;
  const int cols_per = ((n + col_blocks - 1) / col_blocks + nr - 1) / nr * nr;
  const int per_matrix = row_blocks * col_blocks;
  const int tasks = threads > 1 && flops > 4e6 ? batch * per_matrix : 1;

  auto run = [&](int bi, int block) {
    const int i0 = (block / col_blocks) * rows_per;
    const int j0 = (block % col_blocks) * cols_per;
    if (i0 >= m || j0 >= n) return;
    const int rows = std::min(rows_per, m - i0);
    const int cols = std::min(cols_per, n - j0);
    const MatrixView av{a + (bi % batch_a) * a_size + i0 * a_rs, a_rs, a_cs};
    const MatrixView bv{b + (bi % batch_b) * b_size + j0 * b_cs, b_rs, b_cs};
    gemm(rows, cols, k, av, bv, c + bi * c_size + static_cast<std::ptrdiff_t>(i0) * n + j0, n);
  };
  if (tasks == 1) {
    for (int bi = 0; bi < batch; ++bi)
      for (int block = 0; block < per_matrix; ++block) run(bi, block);
    return;
  }
  parallel_for(tasks, [&](int task) { run(task / per_matrix, task % per_matrix); });
}

const char* gemm_kernel_name() { return active_kernel->name; }

bool set_gemm_kernel(const char* name) {
  if (std::strcmp(name, "generic") == 0) {
    active_kernel = &kGeneric;
    return true;
  }
#ifdef DIFFPRUNE_X86
  if (std::strcmp(name, "avx2") == 0 && cpu_has("avx2")) {
    active_kernel = &kAvx2;
    return true;
  }
  if (std::strcmp(name, "avx512") == 0 && cpu_has("avx512")) {
    active_kernel = &kAvx512;
    return true;
  }
#endif
  return false;
}

}  // namespace diffprune
