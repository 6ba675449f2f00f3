#pragma once

#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__)
// An AVX2 clone beside the baseline one, chosen by the loader (ifunc) from the CPU's features.
#define DIFFPRUNE_CLONES __attribute__((target_clones("avx2", "default")))
// With an AVX-512 (x86-64-v4) clone too, for loops that are compute-bound at 8 lanes: the fused gate
// kernels run ~1.9× faster with it on Zen 4 (16 float or 8 double lanes). Only for files compiled
// without FMA contraction (gate.cc), so every clone rounds exactly alike.
#define DIFFPRUNE_WIDE_CLONES __attribute__((target_clones("arch=x86-64-v4", "avx2", "default")))
#else
#define DIFFPRUNE_CLONES
#define DIFFPRUNE_WIDE_CLONES
#endif
