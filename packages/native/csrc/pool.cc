#include "pool.h"

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace diffprune {
namespace {

class Pool {
 public:
  void resize(int threads) {
    std::lock_guard<std::mutex> busy(run_mutex_);
    stop_workers();
    threads_ = threads < 1 ? 1 : threads;
    stopping_ = false;
    // Workers start from the current generation: a run() that begins before a new worker first
    // takes the lock must still be seen by it.
    const unsigned long start = generation_;
    for (int i = 1; i < threads_; ++i) workers_.emplace_back([this, start] { work(start); });
  }

  int threads() const { return threads_; }

  void run(int tasks, const std::function<void(int)>& fn) {
    std::unique_lock<std::mutex> busy(run_mutex_, std::try_to_lock);
    if (!busy.owns_lock() || threads_ == 1 || tasks <= 1) {
      for (int t = 0; t < tasks; ++t) fn(t);
      return;
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      job_ = &fn;
      tasks_ = tasks;
      next_.store(0);
      finished_ = 0;
      ++generation_;
    }
    wake_.notify_all();
    drain(fn, tasks);
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [this] { return finished_ == threads_ - 1; });
    job_ = nullptr;
  }

 private:
  void drain(const std::function<void(int)>& fn, int tasks) {
    for (int t = next_.fetch_add(1); t < tasks; t = next_.fetch_add(1)) fn(t);
  }

  void work(unsigned long seen) {
    for (;;) {
      const std::function<void(int)>* job;
      int tasks;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return stopping_ || generation_ != seen; });
        if (stopping_) return;
        seen = generation_;
        job = job_;
        tasks = tasks_;
      }
      drain(*job, tasks);
      {
        std::lock_guard<std::mutex> lock(mutex_);
        ++finished_;
      }
      done_.notify_one();
    }
  }

  void stop_workers() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    for (auto& worker : workers_) worker.join();
    workers_.clear();
  }

  int threads_ = 1;
  std::vector<std::thread> workers_;
  std::mutex run_mutex_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  const std::function<void(int)>* job_ = nullptr;
  int tasks_ = 0;
  std::atomic<int> next_{0};
  int finished_ = 0;
  unsigned long generation_ = 0;
  bool stopping_ = false;
};

// Never destroyed: workers blocked on the condition variable at process exit must not be joined by
// a static destructor (that would hang or terminate).
Pool& pool() {
  static Pool* instance = new Pool();
  return *instance;
}

}  // namespace

int set_threads(int threads) {
  if (threads != pool().threads()) pool().resize(threads);
  return pool().threads();
}

int get_threads() { return pool().threads(); }

void parallel_for(int tasks, const std::function<void(int)>& fn) { pool().run(tasks, fn); }

}  // namespace diffprune
