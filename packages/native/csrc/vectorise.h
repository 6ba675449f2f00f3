#pragma once

#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__)
// An AVX2 clone beside the baseline one, chosen by the loader (ifunc) from the CPU's features.
#define DIFFPRUNE_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define DIFFPRUNE_CLONES
#endif
