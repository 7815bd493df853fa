// coachd: the coach node. Until the actor system lands (issue 3) it opens the
// event store and prints what it holds.
#include <fmt/core.h>
#include <CLI/CLI.hpp>

#include "events/event_store.h"

int main(int argc, char** argv) {
  CLI::App app{"coachd: the coach node"};
  std::string data_dir = ".coach/data";
  app.add_option("--data-dir", data_dir, "where coach keeps its data")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  coach::events::StoreOptions options;
  options.path = data_dir + "/events";
  auto store = coach::events::EventStore::open(options);
  if (!store) {
    fmt::print(stderr, "coachd: {}: {}\n", coach::errc_name(store.error().code),
               store.error().message);
    return 1;
  }
  auto stats = (*store)->stats();
  fmt::print("coachd: event store at {} holds {} events\n", options.path, stats.feed_head);
  return 0;
}
