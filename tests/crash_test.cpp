// Crash safety: a child process appends from several threads and is killed
// with SIGKILL at random moments; after each kill the store must hold every
// acknowledged event, in order, with no partial batch and no gap.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <random>
#include <sstream>

#include "events/event_store.h"
#include "tests/support.h"

extern char** environ;

using namespace coach;

namespace {

struct Child {
  pid_t pid = -1;
  int out = -1;  // read end of the child's stdout
};

Child spawn_appender(const std::string& dir, unsigned seed) {
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_addclose(&actions, fds[0]);
  std::string seed_text = std::to_string(seed);
  const char* argv[] = {COACH_CRASH_APPENDER, dir.c_str(), "4", "3", seed_text.c_str(), nullptr};
  Child child;
  REQUIRE(posix_spawn(&child.pid, COACH_CRASH_APPENDER, &actions, nullptr, const_cast<char**>(argv),
                      environ) == 0);
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);
  child.out = fds[0];
  return child;
}

// Reads from fd until the deadline (or EOF when deadline is empty).
void read_until(int fd, std::string& into, std::chrono::steady_clock::time_point deadline,
                bool to_eof) {
  char buf[65536];
  for (;;) {
    int timeout = -1;
    if (!to_eof) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                      deadline - std::chrono::steady_clock::now())
                      .count();
      if (left <= 0) return;
      timeout = static_cast<int>(left);
    }
    pollfd p{fd, POLLIN, 0};
    int ready = poll(&p, 1, timeout);
    if (ready <= 0) return;
    auto n = read(fd, buf, sizeof buf);
    if (n <= 0) return;
    into.append(buf, static_cast<size_t>(n));
  }
}

// Every acknowledged (user, sequence) in complete lines of the child's output.
void collect_acks(const std::string& output, std::map<std::string, uint64_t>& acked) {
  std::istringstream lines(output);
  std::string line;
  while (std::getline(lines, line)) {
    if (lines.eof()) break;  // a line cut by the kill was never acknowledged
    std::istringstream words(line);
    std::string word, user;
    uint64_t sequence = 0;
    if (words >> word >> user >> sequence && word == "ack")
      acked[user] = std::max(acked[user], sequence);
  }
}

// Checks one user's stream: gapless (read checks it), whole batches only.
void check_stream(events::EventStore& store, const std::string& user_text, uint64_t acked) {
  auto user = *Uuid::parse(user_text);
  auto events = store.read(user);
  REQUIRE_MESSAGE(events.has_value(), test::error_of(events));
  INFO("user " << user_text);
  CHECK(events->size() >= acked);
  CHECK(events->back().sequence() == events->size());
  for (size_t i = 0; i < events->size();) {
    unsigned long first = 0, last = 0;
    REQUIRE(std::sscanf((*events)[i].task_created().fields().title().c_str(), "b:%lu:%lu", &first,
                        &last) == 2);
    REQUIRE(first == i + 1);
    REQUIRE_MESSAGE(last <= events->size(), "partial batch " << first << ".." << last);
    size_t foreign = 0;
    for (size_t s = first; s <= last; ++s)
      foreign += (*events)[s - 1].task_created().fields().title() !=
                 (*events)[i].task_created().fields().title();
    REQUIRE_MESSAGE(foreign == 0, "batch " << first << ".." << last << " is mixed");
    i = last;
  }
}

}  // namespace

TEST_CASE("SIGKILL at random moments loses no acknowledged event") {
  test::TempDir dir;
  std::mt19937 rng(std::random_device{}());
  std::map<std::string, uint64_t> acked;
  constexpr int kRounds = 24;
  uint64_t total_acks = 0;
  for (int round = 0; round < kRounds; ++round) {
    auto child = spawn_appender(dir.str(), rng());
    std::string output;
    // Wait until the child has opened the store, then let it run a while.
    auto start = std::chrono::steady_clock::now();
    while (output.find("ready\n") == std::string::npos &&
           std::chrono::steady_clock::now() - start < std::chrono::seconds(20))
      read_until(child.out, output,
                 std::chrono::steady_clock::now() + std::chrono::milliseconds(20), false);
    REQUIRE_MESSAGE(output.find("ready\n") != std::string::npos, "child did not start");
    auto run_for = std::chrono::milliseconds(20 + rng() % 280);
    read_until(child.out, output, std::chrono::steady_clock::now() + run_for, false);
    REQUIRE(kill(child.pid, SIGKILL) == 0);
    read_until(child.out, output, {}, true);
    close(child.out);
    int status = 0;
    REQUIRE(waitpid(child.pid, &status, 0) == child.pid);
    REQUIRE(WIFSIGNALED(status));
    collect_acks(output, acked);
    total_acks += static_cast<uint64_t>(std::count(output.begin(), output.end(), '\n'));

    events::StoreOptions options;
    options.path = dir.str();
    options.master_key = test::test_master_key();
    auto store = events::EventStore::open(options);
    REQUIRE_MESSAGE(store.has_value(), test::error_of(store));
    // The feed holds exactly the stored events, gapless, each in its stream's order.
    // A stream may hold a batch whose ack the kill cut off, so the streams
    // checked are those acknowledged and those the feed names.
    auto feed = (*store)->read_feed(1, SIZE_MAX);
    REQUIRE(feed);
    std::map<std::string, uint64_t> streams = acked;
    for (const auto& entry : feed->entries) streams.emplace(entry.event.user_id(), 0);
    uint64_t stored = 0;
    for (const auto& [user, sequence] : streams) {
      check_stream(**store, user, sequence);
      stored += *(*store)->version(*Uuid::parse(user));
    }
    CHECK(feed->entries.size() == stored);
    std::map<std::string, uint64_t> seen;
    size_t misplaced = 0;
    for (size_t i = 0; i < feed->entries.size(); ++i) {
      const auto& entry = feed->entries[i];
      misplaced += entry.position != i + 1;
      misplaced += entry.event.sequence() != ++seen[entry.event.user_id()];
    }
    CHECK(misplaced == 0);
  }
  MESSAGE(kRounds << " kills, " << total_acks << " acknowledged appends checked over "
                  << acked.size() << " users");
  CHECK(acked.size() == 12);
  CHECK(total_acks > kRounds);
}
