// The operation table (wire/operations.h): docs/api.md lists the same
// operations in the same order, every row decodes and encodes its message,
// and a command leads back to its row.
#include <doctest/doctest.h>

#include <fstream>
#include <regex>
#include <set>

#include "schema/internal.pb.h"
#include "schema/snapshots.pb.h"
#include "wire/api_codec.h"
#include "wire/operations.h"

using namespace coach;
using namespace coach::actors;

namespace {

// The operations docs/api.md's table lists, in its order.
std::vector<std::string> documented_operations() {
  std::ifstream in(std::string(COACH_SOURCE_DIR) + "/docs/api.md");
  REQUIRE(in);
  std::vector<std::string> names;
  std::regex row(R"(^\| `coach\.v1\.([a-z.]+)` \|)");
  for (std::string line; std::getline(in, line);)
    if (std::smatch m; std::regex_search(line, m, row)) names.push_back(m[1]);
  return names;
}

}  // namespace

TEST_CASE("docs/api.md lists every operation of the table, in the table's order") {
  std::vector<std::string> table;
  for (const auto& op : operation_table()) table.push_back(op.name);
  auto documented = documented_operations();
  CHECK(documented.size() == 36);
  CHECK(documented == table);
  CHECK(api_operations() == table);
}

TEST_CASE("every row decodes and encodes its message, and its command leads back to it") {
  for (const auto& op : operation_table()) {
    CAPTURE(op.name);
    REQUIRE(find_operation(op.name) == &op);
    auto command = decode_command(op.name, "{}", Encoding::json);
    REQUIRE_MESSAGE(command, command.error().message);
    REQUIRE(op.message_of(*command) != nullptr);
    const auto* back = operation_of(*command);
    REQUIRE(back != nullptr);
    if (op.name == "preferences.get")
      CHECK(back->name == "user.get");  // one message, two names
    else
      CHECK(back == &op);
    auto body = encode_command(op.name, *command, Encoding::json);
    REQUIRE(body);
    CHECK(*body == "{}");
    CHECK(access_of(op.name) == op.access);
  }
  CHECK(find_operation("task.fly") == nullptr);
  CHECK_FALSE(access_of("task.fly"));
  CHECK(operation_of(v1::Command{}) == nullptr);
  v1::Command empty_task;
  empty_task.mutable_task();
  CHECK(operation_of(empty_task) == nullptr);
}

TEST_CASE(
    "access and kind: admin rows are node-wide and admin-only, but the delivery report, "
    "analytics rows node-wide for analysts") {
  std::set<std::string> node, analytics;
  for (const auto& op : operation_table()) {
    CAPTURE(op.name);
    bool admin_subject = op.name.rfind("admin.", 0) == 0;
    if (op.name == "admin.notification.report") {
      CHECK(op.access == Access::delivery);
      CHECK(op.kind == OperationKind::write);
      continue;
    }
    bool aggregates_subject = op.name.rfind("analytics.", 0) == 0;
    CHECK((op.access == Access::admin) == admin_subject);
    CHECK((op.access == Access::aggregates) == aggregates_subject);
    CHECK((op.kind == OperationKind::node) == (admin_subject || aggregates_subject));
    if (op.access == Access::analytics) analytics.insert(op.name);
  }
  CHECK(analytics == std::set<std::string>{"user.insights", "user.features"});
  // The one row served without a token: its secret is checked by the actor.
  std::set<std::string> tokenless;
  for (const auto& op : operation_table())
    if (op.access == Access::feed_secret) tokenless.insert(op.name);
  CHECK(tokenless == std::set<std::string>{"calendar.feed.read"});
  CHECK(find_operation("task.list")->kind == OperationKind::read);
  CHECK(find_operation("task.create")->kind == OperationKind::write);
  CHECK(find_operation("user.delete")->kind == OperationKind::special);
}

TEST_CASE(
    "handler column: reads answer from the state, writes decide, node rows stay in the "
    "gateway") {
  for (const auto& op : operation_table()) {
    CAPTURE(op.name);
    CHECK(node_handler(op.handler) == (op.kind == OperationKind::node));
    if (op.kind == OperationKind::read) CHECK(op.handler == Handler::state_reply);
    if (op.handler == Handler::decide) CHECK(op.kind == OperationKind::write);
  }
  CHECK(find_operation("user.export")->handler == Handler::export_page);
  CHECK(find_operation("user.delete")->handler == Handler::erase);
  CHECK(find_operation("user.features")->handler == Handler::features);
  CHECK(find_operation("nudge.now")->handler == Handler::nudge_now);
  CHECK(find_operation("admin.batch.run")->handler == Handler::batch);
  CHECK(find_operation("admin.batch.status")->handler == Handler::batch);
}

TEST_CASE("the API's schema file holds the API alone: stored and internal formats apart") {
  const auto* api = v1::Command::descriptor()->file();
  CHECK(api->name() == "commands.proto");
  for (int i = 0; i < api->dependency_count(); ++i) {
    CAPTURE(api->dependency(i)->name());
    CHECK(api->dependency(i)->name() != "snapshots.proto");
    CHECK(api->dependency(i)->name() != "internal.proto");
  }
  CHECK(v1::UserSnapshot::descriptor()->file()->name() == "snapshots.proto");
  CHECK(v1::TokenClaims::descriptor()->file()->name() == "internal.proto");
  CHECK(v1::OutboundNotification::descriptor()->file()->name() == "internal.proto");
}
