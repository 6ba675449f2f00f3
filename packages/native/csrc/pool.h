// A small persistent thread pool: run(tasks, fn) calls fn(task) for task in [0, tasks) on the
// calling thread plus the pool's workers, and returns when every task is done.
#pragma once

#include <functional>

namespace diffprune {

// Sets the number of threads used by run() (the calling thread counts as one). Returns the count.
int set_threads(int threads);
int get_threads();

// Runs fn(0..tasks-1). Work is taken dynamically (an atomic counter), so uneven tasks balance.
// Re-entrant calls, or calls while another JS thread is using the pool, run inline.
void parallel_for(int tasks, const std::function<void(int)>& fn);

}  // namespace diffprune
