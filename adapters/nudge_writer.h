// NudgeWriter: writes nudge texts with the LLM, off every actor's thread.
// Jobs go into a bounded queue served by a few worker threads; the task CRUD
// path never waits for it (a user actor hands a job over and carries on; the
// text comes back as a message).
//
// For each job, in order:
// - no LLM configured, queue full, past the job's deadline, breaker open, or
//   over a token budget (per user and for the node, per UTC day): the
//   template text at once, with the reason;
// - otherwise one request with timeout min(llm.timeout, time to deadline);
//   an unavailable LLM (timeout, connection, HTTP 5xx/429) is retried after
//   backoff x 2^(attempt-1), +-50% jitter, up to max_attempts, through the
//   queue (the worker does not sleep); other failures are not retried;
// - an answer must pass projections::check_text (length, blocklist, no
//   advice), else the template stands in ("rejected: ...").
// Circuit breaker: `breaker_failures` unavailable answers in a row open it;
// after `breaker_cooldown` one probe request is let through (half-open): its
// success closes the breaker, its failure opens it again.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "adapters/llm_client.h"
#include "base/ids.h"
#include "projections/nudge_book.h"

namespace coach::actors {

struct NudgeWriterOptions {
  LlmConfig llm;
  int workers = 4;
  size_t max_queue = 10000;
  int max_attempts = 3;
  std::chrono::milliseconds backoff{250};
  int breaker_failures = 5;
  std::chrono::milliseconds breaker_cooldown{30000};
  uint64_t node_tokens_per_day = 2'000'000;
  uint64_t user_tokens_per_day = 20'000;
};

struct NudgeJob {
  Uuid user;
  projections::NudgeContext context;
  std::chrono::steady_clock::time_point deadline;
  // Called exactly once, on a writer thread or in submit itself.
  std::function<void(projections::WrittenNudge)> done;
};

enum class BreakerState { closed, open, half_open };
std::string_view breaker_name(BreakerState state);

struct NudgeWriterStats {
  bool llm_configured = false;
  BreakerState breaker = BreakerState::closed;
  uint64_t breaker_opened = 0;  // times it opened
  size_t queued = 0;            // jobs waiting, retries included
  uint64_t written_by_llm = 0, written_by_template = 0, retries = 0;
  uint64_t tokens_today = 0;
  uint64_t tokens_total = 0;                  // since the writer started
  uint64_t tokens_per_day = 0;                // the node's budget
  std::map<std::string, uint64_t> fallbacks;  // by reason: "timeout", "breaker open", ...
};

class NudgeWriter {
 public:
  explicit NudgeWriter(NudgeWriterOptions options);
  ~NudgeWriter();  // jobs still queued get their template
  NudgeWriter(const NudgeWriter&) = delete;
  NudgeWriter& operator=(const NudgeWriter&) = delete;

  void submit(NudgeJob job);
  NudgeWriterStats stats() const;

 private:
  struct Queued {
    NudgeJob job;
    int attempt = 1;
    std::chrono::steady_clock::time_point not_before;
  };
  void work();
  void write(Queued queued);
  void fallback(NudgeJob& job, const std::string& reason);
  bool admit(std::chrono::steady_clock::time_point now, std::string* why);  // breaker
  void record(bool available, std::chrono::steady_clock::time_point now);
  bool charge(const Uuid& user, uint64_t tokens, bool check_only);

  NudgeWriterOptions options_;
  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::deque<Queued> queue_;
  bool stopping_ = false;
  std::atomic<bool> cancel_llm_{false};  // LLM requests in flight give up
  // breaker
  BreakerState breaker_ = BreakerState::closed;
  int failures_in_row_ = 0;
  bool probe_in_flight_ = false;
  std::chrono::steady_clock::time_point opened_at_;
  // budgets, per UTC day
  int64_t budget_day_ = 0;
  uint64_t node_tokens_ = 0;
  std::unordered_map<Uuid, uint64_t, UuidHash> user_tokens_;
  NudgeWriterStats stats_;
  std::vector<std::thread> workers_;
};

}  // namespace coach::actors
