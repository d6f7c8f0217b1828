// SPDX-License-Identifier: Apache-2.0
#include "stagehand/sdk/train/prefetcher.h"

#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>

namespace stagehand::sdk::train {

struct Prefetcher::State {
  Make make;
  int64_t next;
  int64_t depth;
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Batch> ready;
  std::exception_ptr error;
  bool stop = false;
  std::thread worker;

  void loop() {
    while (true) {
      int64_t k;
      {
        std::unique_lock<std::mutex> l(mu);
        cv.wait(l, [this] { return stop || static_cast<int64_t>(ready.size()) < depth; });
        if (stop) return;
        k = next++;
      }
      try {
        Batch b = make(k);
        std::lock_guard<std::mutex> l(mu);
        ready.push_back(std::move(b));
      } catch (...) {
        std::lock_guard<std::mutex> l(mu);
        error = std::current_exception();
      }
      cv.notify_all();
      if (error) return;
    }
  }
};

Prefetcher::Prefetcher(Make make, int64_t first, int64_t depth) : state_(std::make_shared<State>()) {
  state_->make = std::move(make);
  state_->next = first;
  state_->depth = depth;
  State* s = state_.get();
  s->worker = std::thread([s] { s->loop(); });
}

Prefetcher::~Prefetcher() {
  {
    std::lock_guard<std::mutex> l(state_->mu);
    state_->stop = true;
  }
  state_->cv.notify_all();
  state_->worker.join();
}

Batch Prefetcher::get() {
  State& s = *state_;
  std::unique_lock<std::mutex> l(s.mu);
  s.cv.wait(l, [&s] { return !s.ready.empty() || s.error; });
  if (s.error) std::rethrow_exception(s.error);
  Batch b = std::move(s.ready.front());
  s.ready.pop_front();
  s.cv.notify_all();
  return b;
}

}  // namespace stagehand::sdk::train
