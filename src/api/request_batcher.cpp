#include "s2d/api/request_batcher.h"

namespace s2d::api {

CompletionResult Job::wait() {
  std::unique_lock<std::mutex> lk(mu);
  cv.wait(lk, [&] { return done; });
  if (error) std::rethrow_exception(error);
  return result;
}

RequestBatcher::RequestBatcher(Backend& backend, size_t max_batch, std::chrono::milliseconds window)
    : backend_(backend), max_batch_(max_batch < 1 ? 1 : max_batch), window_(window), thread_([this] { loop(); }) {}

RequestBatcher::~RequestBatcher() { shutdown(); }

std::shared_ptr<Job> RequestBatcher::submit(CompletionRequest request, bool stream) {
  auto job = std::make_shared<Job>();
  job->request = std::move(request);
  if (stream) {
    job->partial.resize(job->request.samples.size());
    Job* j = job.get();  // the batcher holds the job while the engine may call this
    job->request.on_text = [j](int sample, const std::string& text) {
      std::lock_guard<std::mutex> lk(j->mu);
      if (sample >= 0 && static_cast<size_t>(sample) < j->partial.size())
        j->partial[static_cast<size_t>(sample)] = text;
      ++j->version;
      j->cv.notify_all();
    };
  }
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (stopping_) {
      job->error = std::make_exception_ptr(std::runtime_error("the server is shutting down"));
      job->done = true;
      return job;
    }
    queue_.push_back(job);
  }
  cv_.notify_all();
  return job;
}

void RequestBatcher::shutdown() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::vector<std::shared_ptr<Job>> RequestBatcher::take_queued() {
  std::vector<std::shared_ptr<Job>> out;
  while (!queue_.empty() && out.size() < max_batch_) {
    out.push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
  return out;
}

void RequestBatcher::loop() {
  while (true) {
    std::vector<std::shared_ptr<Job>> batch;
    {
      std::unique_lock<std::mutex> lk(mu_);
      cv_.wait(lk, [&] { return !queue_.empty() || stopping_; });
      if (queue_.empty()) return;  // stopping, nothing left
      if (window_.count() > 0 && queue_.size() < max_batch_)
        cv_.wait_for(lk, window_, [&] { return queue_.size() >= max_batch_ || stopping_; });
      batch = take_queued();
    }
    run_batch(batch);
  }
}

namespace {
void finish(Job& job, CompletionResult* result, std::exception_ptr error) {
  std::lock_guard<std::mutex> lk(job.mu);
  if (job.done) return;
  if (result) job.result = std::move(*result);
  job.error = error;
  job.done = true;
  ++job.version;
  job.cv.notify_all();
}
}  // namespace

void RequestBatcher::run_batch(const std::vector<std::shared_ptr<Job>>& first) {
  // Jobs of this run: `first`, then those that join while it runs. Request ids are positions
  // here, so results map back whatever ids the clients sent.
  std::deque<std::shared_ptr<Job>> jobs;
  auto as_requests = [&](const std::vector<std::shared_ptr<Job>>& add) {
    std::vector<CompletionRequest> reqs;
    for (const auto& j : add) {
      reqs.push_back(j->request);
      reqs.back().id = std::to_string(jobs.size());
      jobs.push_back(j);
    }
    return reqs;
  };
  const std::vector<CompletionRequest> reqs = as_requests(first);
  // Whatever queued up meanwhile joins the running batch (the engine admits it between steps).
  Backend::Intake intake = [&] {
    std::vector<std::shared_ptr<Job>> add;
    {
      std::lock_guard<std::mutex> lk(mu_);
      add = take_queued();
    }
    return as_requests(add);
  };
  try {
    backend_.complete_open(
        reqs,
        [&](CompletionResult&& r) {
          const size_t i = std::stoul(r.id);
          r.id = jobs[i]->request.id;
          finish(*jobs[i], &r, nullptr);
        },
        intake);
  } catch (...) {
    if (jobs.size() == 1) {
      finish(*jobs[0], nullptr, std::current_exception());
      return;
    }
    for (const auto& j : jobs) {  // isolate the culprit: the rest still get their answers
      bool done;
      {
        std::lock_guard<std::mutex> lk(j->mu);
        done = j->done;
      }
      if (!done) run_alone(j);
    }
  }
}

void RequestBatcher::run_alone(const std::shared_ptr<Job>& job) {
  CompletionRequest r = job->request;
  try {
    backend_.complete({r}, [&](CompletionResult&& res) { finish(*job, &res, nullptr); });
  } catch (...) {
    finish(*job, nullptr, std::current_exception());
  }
}

}  // namespace s2d::api
