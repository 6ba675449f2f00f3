// A small persistent thread pool: run(tasks, fn) calls fn(task) for task in [0, tasks) on the
// calling thread plus the pool's workers, and returns when every task is done.
#pragma once

#include <algorithm>
#include <cstddef>
#include <functional>

namespace diffprune {

// Sets the number of threads used by run() (the calling thread counts as one). Returns the count.
int set_threads(int threads);
int get_threads();

// Runs fn(0..tasks-1). Work is taken dynamically (an atomic counter), so uneven tasks balance.
// Re-entrant calls, or calls while another JS thread is using the pool, run inline.
void parallel_for(int tasks, const std::function<void(int)>& fn);

constexpr std::ptrdiff_t kParallelThreshold = 1 << 15;  // elements

// Splits [0, n) into up to 4 chunks a thread for the pool when n·cost_per_item is large; body(begin,
// end) runs once per chunk (inline, on [0, n), when small or single-threaded).
template <typename F>
void parallel_range(std::ptrdiff_t n, std::ptrdiff_t cost_per_item, F&& body) {
  const int threads = get_threads();
  if (threads == 1 || n * cost_per_item < kParallelThreshold || n < 2) {
    body(0, n);
    return;
  }
  const int tasks = static_cast<int>(std::min<std::ptrdiff_t>(n, threads * 4));
  parallel_for(tasks, [&](int t) {
    const std::ptrdiff_t begin = n * t / tasks, end = n * (t + 1) / tasks;
    if (begin < end) body(begin, end);
  });
}

}  // namespace diffprune
