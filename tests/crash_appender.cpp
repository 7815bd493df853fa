// Child process of crash_test: appends to a store from several threads until
// it is killed, printing "ack <user> <last_sequence>" for every append the
// store acknowledged. Each event's title names its batch ("b:<first>:<last>")
// so the parent can tell a partial batch from a whole one.
//
// usage: crash_appender <data dir> <threads> <users per thread> <seed>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "events/event_store.h"
#include "tests/support.h"

using namespace coach;

namespace {

void write_line(const std::string& line) {
  // One write per line (shorter than PIPE_BUF), so lines never interleave.
  auto n = ::write(STDOUT_FILENO, line.data(), line.size());
  if (n != static_cast<ssize_t>(line.size())) std::_Exit(3);
}

Uuid user_for(int thread, int index) {
  char text[48];
  std::snprintf(text, sizeof text, "00000000-0000-4000-8000-%06x%06x", thread & 0xffffff,
                index & 0xffffff);
  return *Uuid::parse(text);
}

void append_forever(events::EventStore& store, int thread, int users, unsigned seed) {
  std::mt19937 rng(seed * 7919 + thread);
  std::vector<Uuid> ids;
  std::vector<uint64_t> versions;
  for (int i = 0; i < users; ++i) {
    ids.push_back(user_for(thread, i));
    versions.push_back(*store.version(ids.back()));
  }
  for (size_t n = 0;; ++n) {
    size_t i = n % ids.size();
    size_t count = 1 + rng() % 5;
    uint64_t first = versions[i] + 1, last = versions[i] + count;
    auto title = "b:" + std::to_string(first) + ":" + std::to_string(last);
    auto batch = test::task_batch(ids[i], versions[i], count, title);
    for (auto& e : batch) e.mutable_task_created()->mutable_fields()->set_title(title);
    auto r = store.append(ids[i], versions[i], batch);
    if (!r) {
      std::fprintf(stderr, "append failed: %s\n", r.error().message.c_str());
      std::_Exit(2);
    }
    versions[i] = r->last_sequence;
    write_line("ack " + ids[i].to_string() + " " + std::to_string(r->last_sequence) + "\n");
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: %s <data dir> <threads> <users per thread> <seed>\n", argv[0]);
    return 64;
  }
  events::StoreOptions options;
  options.path = argv[1];
  options.master_key = test::test_master_key();
  auto store = events::EventStore::open(options);
  if (!store) {
    std::fprintf(stderr, "open failed: %s\n", store.error().message.c_str());
    return 1;
  }
  int threads = std::atoi(argv[2]), users = std::atoi(argv[3]);
  unsigned seed = static_cast<unsigned>(std::atoi(argv[4]));
  write_line("ready\n");
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t)
    workers.emplace_back([&, t] { append_forever(**store, t, users, seed); });
  for (auto& w : workers) w.join();
}
