// Feeds one Backend from many threads (the HTTP server's handlers): requests queue up, and one
// engine thread runs everything queued as one batch (up to max_batch), so concurrent clients share
// decode steps. Requests arriving while a batch runs join it between decode steps
// (Backend::complete_open; the in-process engine admits them into free slots). When the engine is idle, the first
// arrival waits up to `window` for company: clients that send "at once" are never exactly simultaneous, and without the
// wait the first would run alone and the rest after it (measured: 8 clients at 0.49x of in-process throughput without
// it, scripts/bench/serve.sh). A batch that fails is retried one request at a time, so one bad request (say, a prompt
// longer than the context) fails alone.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "s2d/engine/backend.h"

namespace s2d::api {

// One queued request and, once done, its result or error. `partial` holds each sample's text so
// far when the request streams; `version` grows on every change, for waiters.
struct Job {
  CompletionRequest request;
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  CompletionResult result;
  std::exception_ptr error;
  std::vector<std::string> partial;  // [n samples]
  uint64_t version = 0;

  // Blocks until done; returns the result or rethrows the error.
  CompletionResult wait();
};

class RequestBatcher {
 public:
  RequestBatcher(Backend& backend, size_t max_batch, std::chrono::milliseconds window = std::chrono::milliseconds(5));
  ~RequestBatcher();  // shutdown()
  // Queues a request; with `stream`, job->partial follows the text as it is generated.
  std::shared_ptr<Job> submit(CompletionRequest request, bool stream);
  // Runs what is queued, then stops the engine thread. Idempotent.
  void shutdown();

 private:
  void loop();
  std::vector<std::shared_ptr<Job>> take_queued();  // up to max_batch_ jobs; mu_ held by the caller
  void run_batch(const std::vector<std::shared_ptr<Job>>& first);
  void run_alone(const std::shared_ptr<Job>& job);

  Backend& backend_;
  size_t max_batch_;
  std::chrono::milliseconds window_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Job>> queue_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace s2d::api
