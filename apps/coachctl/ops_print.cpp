#include "apps/coachctl/ops_print.h"

#include <fmt/core.h>
#include <google/protobuf/util/time_util.h>

#include <map>

namespace coach::apps {
namespace {

std::string show_time(const google::protobuf::Timestamp& t) {
  return t.seconds() == 0 ? "-" : google::protobuf::util::TimeUtil::ToString(t);
}

}  // namespace

void print_actor_list(const v1::ActorList& list) {
  fmt::print("{} resident user actor{}\n", list.resident(), list.resident() == 1 ? "" : "s");
  if (list.actors().empty()) return;
  fmt::print("{:<36}  {:>7}  {}\n", "user", "mailbox", "since");
  for (const auto& a : list.actors())
    fmt::print("{:<36}  {:>7}  {}\n", a.user_id(), a.mailbox(), show_time(a.since()));
  if (static_cast<uint64_t>(list.actors_size()) < list.resident())
    fmt::print("... {} more (--limit)\n", list.resident() - list.actors_size());
}

void print_batch_status(const v1::BatchStatus& s) {
  if (s.running())
    fmt::print("batch running: {} of {} users, {} events folded\n", s.users_done(), s.users_total(),
               s.events());
  else
    fmt::print("batch idle ({} runs since the node started)\n", s.runs());
  if (s.has_last() && s.last().has_finished_at()) {
    const auto& l = s.last();
    fmt::print("last run: {} {}, {} users, {} events, {} snapshots, {:.2f} s, finished {}{}\n",
               l.full() ? "full" : "incremental", l.error().empty() ? "ok" : "FAILED", l.users(),
               l.events(), l.snapshots(), l.seconds(), show_time(l.finished_at()),
               l.error().empty() ? "" : ": " + l.error());
  }
}

void print_queues(const v1::OpsSnapshot& ops) {
  const auto& n = ops.node();
  fmt::print("node               {}\n", ops.draining() ? "draining"
                                        : ops.ready()  ? "ready"
                                                       : "not ready");
  fmt::print("requests in flight {}\n", n.requests_in_flight());
  fmt::print("deepest mailboxes ");
  if (ops.busiest().empty() || ops.busiest(0).mailbox() == 0) fmt::print(" all empty");
  for (const auto& a : ops.busiest())
    if (a.mailbox() > 0) fmt::print(" {}={}", a.user_id(), a.mailbox());
  fmt::print("\n");
  fmt::print("llm queue          {} (breaker {})\n", n.llm_queue(),
             n.llm_breaker().empty() ? "none: no LLM" : n.llm_breaker());
  fmt::print("notifications      {} pending, {} dead letters\n", n.notifications_pending(),
             n.dead_letters());
  fmt::print("nudge checks       {} scheduled\n", n.nudge_checks_scheduled());
  const auto& b = ops.batch();
  fmt::print("batch              {}\n",
             b.running() ? fmt::format("{} of {} users", b.users_done(), b.users_total())
                         : std::string("idle"));
}

void print_cluster(const v1::ClusterFigures& c) {
  if (c.log_replicas() == 0) {
    fmt::print("mode               single node\n");
    return;
  }
  if (c.partitions() == 0) {
    fmt::print("mode               owner and standbys, log R{}\n", c.log_replicas());
    fmt::print("node               {} ({})\n", c.node_id(), c.lease_held() ? "owner" : "standby");
    if (c.lease_held()) fmt::print("lease age          {:.1f} s\n", c.lease_age_seconds());
    fmt::print("log position       {} ({} events caught up)\n", c.log_position(),
               c.caught_up_events());
    return;
  }
  fmt::print("mode               partitioned: {} partitions, log R{}\n", c.partitions(),
             c.log_replicas());
  fmt::print("node               {}\n", c.node_id());
  fmt::print("members            {}:", c.members());
  for (const auto& id : c.member_ids()) fmt::print(" {}", id);
  fmt::print("\n");
  fmt::print("held here          {} of {}\n", c.partitions_held(), c.partitions());
  fmt::print("forwarded          {} requests\n", c.forwarded());
  std::map<std::string, int> owners;
  for (const auto& p : c.partition_map()) ++owners[p.owner().empty() ? "(moving)" : p.owner()];
  fmt::print("{:<36}  {:>10}\n", "owner", "partitions");
  for (const auto& [owner, n] : owners) fmt::print("{:<36}  {:>10}\n", owner, n);
  fmt::print("{:>9}  {:>9}  {:>10}  {:>10}  {:>10}\n", "partition", "lease age", "catch-up",
             "caught up", "events");
  for (const auto& p : c.partition_map())
    if (p.served_here())
      fmt::print("{:>9}  {:>7.1f} s  {:>8.2f} s  {:>10}  {:>10}\n", p.partition(),
                 p.lease_age_seconds(), p.catch_up_seconds(), p.caught_up_events(), p.events());
}

}  // namespace coach::apps
