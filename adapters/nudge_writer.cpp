#include "adapters/nudge_writer.h"

#include <algorithm>
#include <random>

#include "wire/log.h"

namespace coach::actors {
namespace {

using Steady = std::chrono::steady_clock;

int64_t utc_day() {
  return std::chrono::duration_cast<std::chrono::hours>(
             std::chrono::system_clock::now().time_since_epoch())
             .count() /
         24;
}

// The model's text, trimmed of blanks and of quotes around it.
std::string tidy(std::string text) {
  auto blank = [](unsigned char c) { return std::isspace(c) != 0; };
  while (!text.empty() && blank(text.back())) text.pop_back();
  size_t start = 0;
  while (start < text.size() && blank(text[start])) ++start;
  text.erase(0, start);
  if (text.size() >= 2 && text.front() == '"' && text.back() == '"')
    text = text.substr(1, text.size() - 2);
  return text;
}

}  // namespace

std::string_view breaker_name(BreakerState state) {
  switch (state) {
    case BreakerState::closed:
      return "closed";
    case BreakerState::open:
      return "open";
    case BreakerState::half_open:
      return "half_open";
  }
  return "closed";
}

NudgeWriter::NudgeWriter(NudgeWriterOptions options) : options_(std::move(options)) {
  options_.llm.cancel = &cancel_llm_;
  stats_.llm_configured = !options_.llm.base_url.empty();
  if (!stats_.llm_configured) return;
  for (int i = 0; i < std::max(1, options_.workers); ++i) workers_.emplace_back([this] { work(); });
}

NudgeWriter::~NudgeWriter() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cancel_llm_ = true;
  wake_.notify_all();
  for (auto& t : workers_) t.join();
  for (auto& q : queue_) fallback(q.job, "shutting down");
}

void NudgeWriter::fallback(NudgeJob& job, const std::string& reason) {
  {
    std::lock_guard lock(mu_);
    ++stats_.written_by_template;
    ++stats_.fallbacks[reason];
  }
  job.done({projections::render_template(job.context), v1::NUDGE_SOURCE_TEMPLATE, reason});
}

void NudgeWriter::submit(NudgeJob job) {
  if (!stats_.llm_configured) return fallback(job, "no LLM configured");
  {
    std::lock_guard lock(mu_);
    if (!stopping_ && queue_.size() < options_.max_queue) {
      queue_.push_back({std::move(job), 1, Steady::now()});
      wake_.notify_one();
      return;
    }
  }
  fallback(job, "queue full");
}

NudgeWriterStats NudgeWriter::stats() const {
  std::lock_guard lock(mu_);
  auto s = stats_;
  s.breaker = breaker_;
  s.queued = queue_.size();
  s.tokens_today = budget_day_ == utc_day() ? node_tokens_ : 0;
  s.tokens_per_day = options_.node_tokens_per_day;
  return s;
}

void NudgeWriter::work() {
  std::unique_lock lock(mu_);
  while (true) {
    if (stopping_) return;
    auto now = Steady::now();
    auto ready = std::find_if(queue_.begin(), queue_.end(),
                              [&](const Queued& q) { return q.not_before <= now; });
    if (ready == queue_.end()) {
      auto next = Steady::time_point::max();
      for (const auto& q : queue_) next = std::min(next, q.not_before);
      if (next == Steady::time_point::max())
        wake_.wait(lock);
      else
        wake_.wait_until(lock, next);
      continue;
    }
    Queued job = std::move(*ready);
    queue_.erase(ready);
    lock.unlock();
    write(std::move(job));
    lock.lock();
  }
}

bool NudgeWriter::admit(Steady::time_point now, std::string* why) {
  std::lock_guard lock(mu_);
  if (breaker_ == BreakerState::open && now - opened_at_ >= options_.breaker_cooldown)
    breaker_ = BreakerState::half_open;
  if (breaker_ == BreakerState::open) {
    *why = "breaker open";
    return false;
  }
  if (breaker_ == BreakerState::half_open) {
    if (probe_in_flight_) {
      *why = "breaker open";
      return false;
    }
    probe_in_flight_ = true;
  }
  return true;
}

void NudgeWriter::record(bool available, Steady::time_point now) {
  std::lock_guard lock(mu_);
  probe_in_flight_ = false;
  if (available) {
    failures_in_row_ = 0;
    if (breaker_ != BreakerState::closed)
      log_line(LogLevel::info, "llm", "circuit breaker closed: the LLM answers again");
    breaker_ = BreakerState::closed;
    return;
  }
  ++failures_in_row_;
  if (breaker_ == BreakerState::half_open ||
      (breaker_ == BreakerState::closed && failures_in_row_ >= options_.breaker_failures)) {
    breaker_ = BreakerState::open;
    opened_at_ = now;
    ++stats_.breaker_opened;
    log_line(LogLevel::warn, "llm", "circuit breaker open: nudges from templates",
             {{"failures_in_row", static_cast<int64_t>(failures_in_row_)},
              {"cooldown_ms", static_cast<int64_t>(options_.breaker_cooldown.count())}});
  }
}

bool NudgeWriter::charge(const Uuid& user, uint64_t tokens, bool check_only) {
  std::lock_guard lock(mu_);
  auto today = utc_day();
  if (today != budget_day_) {
    budget_day_ = today;
    node_tokens_ = 0;
    user_tokens_.clear();
  }
  auto& mine = user_tokens_[user];
  if (check_only)
    return node_tokens_ + tokens <= options_.node_tokens_per_day &&
           mine + tokens <= options_.user_tokens_per_day;
  node_tokens_ += tokens;
  mine += tokens;
  stats_.tokens_total += tokens;
  return true;
}

void NudgeWriter::write(Queued queued) {
  auto& job = queued.job;
  auto now = Steady::now();
  if (now >= job.deadline) return fallback(job, "deadline passed");
  auto prompt = projections::build_prompt(job.context);
  auto estimate = (prompt.system.size() + prompt.user.size()) / 4 +
                  static_cast<uint64_t>(options_.llm.max_tokens);
  if (!charge(job.user, estimate, /*check_only=*/true)) return fallback(job, "token budget");
  std::string why;
  if (!admit(now, &why)) return fallback(job, why);

  auto config = options_.llm;
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(job.deadline - now);
  config.timeout = std::max(std::chrono::milliseconds(1), std::min(config.timeout, left));
  auto reply = chat(config, prompt);
  now = Steady::now();
  bool available = reply || reply.error().code != Errc::unavailable;
  record(available, now);
  if (!reply) {
    bool retry = !available && queued.attempt < options_.max_attempts;
    if (retry) {
      thread_local std::mt19937 rng{std::random_device{}()};
      auto base = options_.backoff * (1 << (queued.attempt - 1));
      auto jitter = std::uniform_real_distribution<double>(0.5, 1.5)(rng);
      auto delay = std::chrono::duration_cast<Steady::duration>(base * jitter);
      if (now + delay < job.deadline) {
        std::lock_guard lock(mu_);
        if (!stopping_) {
          ++stats_.retries;
          queue_.push_back({std::move(job), queued.attempt + 1, now + delay});
          wake_.notify_one();
          return;
        }
      }
    }
    auto message = reply.error().message;
    return fallback(job, message.find("imeout") != std::string::npos ? "timeout"
                         : available                                 ? "bad answer"
                                                                     : "unavailable");
  }
  uint64_t used = static_cast<uint64_t>(reply->prompt_tokens + reply->completion_tokens);
  charge(job.user, used ? used : estimate, /*check_only=*/false);
  auto text = tidy(reply->text);
  if (auto ok = projections::check_text(text); !ok) return fallback(job, "rejected");
  {
    std::lock_guard lock(mu_);
    ++stats_.written_by_llm;
  }
  job.done({std::move(text), v1::NUDGE_SOURCE_LLM, ""});
}

}  // namespace coach::actors
