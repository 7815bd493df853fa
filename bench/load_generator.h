// What the NATS benchmarks share: round-trip figures, their one-line report,
// and a closed-loop load generator speaking coach's API over NATS.
#pragma once

#include <fmt/core.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"
#include "wire/bus_identity.h"

typedef struct __natsConnection natsConnection;
typedef struct __natsSubscription natsSubscription;
typedef struct __natsMsg natsMsg;

namespace coach::bench {

using Steady = std::chrono::steady_clock;

// Round trips of one run: one entry per reply, and how long the run took.
struct Figures {
  std::vector<double> micros;
  double seconds = 0;
  // The p-quantile (0..1) of the round trips in microseconds; 0 if none.
  double percentile(double p) const;
  // Replies per second.
  double rate() const;
};

// Prints "<what> <n> clients  p50 .. p95 .. p99 .. <rate> /s" on one line.
void report(const std::string& what, int clients, const Figures& f);

// Thrown by a benchmark's broken step, caught in main: the destructors of
// what the benchmark started (nats-servers, coachd) still run.
struct BenchFailure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A benchmark's main(): runs `run` and answers its exit code; an exception
// (a BenchFailure, say) is printed as "<name>: <what>" and answers 1, after
// the destructors of what `run` started (processes) have run.
int guarded_main(const char* name, int (*run)(int, char**), int argc, char** argv);

// The value of `result`, or BenchFailure("<what>: <error>").
template <class T>
T must(Result<T> result, const char* what) {
  if (!result) throw BenchFailure(std::string(what) + ": " + result.error().message);
  return std::move(*result);
}

// A plaintext connection as coach's own (wire/nats_connect.h) with a fresh
// bus identity of `role` from the test NatsServer serving `url`, and the
// inbox prefix that identity may receive on.
std::pair<natsConnection*, std::string> connect(const std::string& url, actors::BusRole role);

// A closed-loop load generator: `clients` logical clients, each with one
// request in flight at all times, driven by one thread (its own NATS
// connection and reply subscription), the way wrk drives many connections
// from few threads. next(client, i, last_reply) builds client's i-th request
// (subject, body) from the reply to its previous one; client c's requests
// carry users[c] and tokens[c] ("Bearer <token>").
class LoadGenerator {
 public:
  using Next = std::function<std::pair<std::string, std::string>(int client, int i,
                                                                 std::string_view last_reply)>;
  // content_type: the requests' Content-Type header; empty: none (JSON).
  LoadGenerator(const std::string& url, int clients, std::vector<std::string> users,
                std::vector<std::string> tokens, Next next, std::string content_type = {});
  ~LoadGenerator();
  LoadGenerator(const LoadGenerator&) = delete;
  LoadGenerator& operator=(const LoadGenerator&) = delete;

  // Runs for `seconds`, then waits for every client's last reply. A reply
  // that never comes stalls the run: benchmarks run on healthy systems.
  Figures run(double seconds);
  // Replies that held an error, over every run so far, and the first one.
  int errors() const { return errors_; }
  std::string first_error() const {
    std::lock_guard lock(mu_);
    return first_error_;
  }

 private:
  struct Slot {
    int i = 0;
    Steady::time_point sent;
    std::vector<double> micros;
  };
  void send(int c, std::string_view last_reply);
  static void on_reply(natsConnection*, natsSubscription*, natsMsg* msg, void* closure);

  int clients_;
  std::vector<std::string> users_;
  std::vector<std::string> tokens_;
  Next next_;
  std::string content_type_;
  std::vector<Slot> slots_;
  natsConnection* nc_ = nullptr;
  natsSubscription* sub_ = nullptr;
  std::string inbox_;
  Steady::time_point start_, deadline_;
  std::atomic<int> errors_{0};
  mutable std::mutex mu_;
  std::condition_variable done_cv_;
  int finished_ = 0;
  std::string first_error_;
};

// Each client's CRUD cycle: create a task, get it, edit it, complete it,
// again and again (4 requests, 3 of them writes). With reads_only: one
// create, then gets of that task only (no fsync: the pipeline's own cost).
LoadGenerator::Next crud_cycle(int clients, bool reads_only = false);

}  // namespace coach::bench
