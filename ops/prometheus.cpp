#include "ops/prometheus.h"

#include <fmt/format.h>

#include <cmath>
#include <map>
#include <string_view>
#include <utility>
#include <vector>

namespace coach::actors {
namespace {

using Labels = std::vector<std::pair<std::string, std::string>>;

std::string escape_label(std::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"')
      out += {'\\', c};
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

std::string number(double value) {
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  if (std::isnan(value)) return "NaN";
  return fmt::format("{}", value);
}

class Writer {
 public:
  // Starts a metric family: its HELP and TYPE lines.
  void family(std::string_view name, std::string_view type, std::string_view help) {
    out_ += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  }
  void sample(std::string_view name, const Labels& labels, double value) {
    out_ += name;
    if (!labels.empty()) {
      out_ += '{';
      for (size_t i = 0; i < labels.size(); ++i)
        out_ += fmt::format("{}{}=\"{}\"", i ? "," : "", labels[i].first,
                            escape_label(labels[i].second));
      out_ += '}';
    }
    out_ += ' ' + number(value) + '\n';
  }
  // A family of one unlabelled sample.
  void single(std::string_view name, std::string_view type, std::string_view help, double value) {
    family(name, type, help);
    sample(name, {}, value);
  }
  // The series of one histogram (its family started by the caller).
  void histogram(std::string_view name, Labels labels, const v1::Histogram& h) {
    uint64_t cumulative = 0;
    for (int i = 0; i < h.counts_size(); ++i) {
      cumulative += h.counts(i);
      auto le = i < h.upper_bounds_size() ? number(h.upper_bounds(i)) : "+Inf";
      auto with_le = labels;
      with_le.emplace_back("le", le);
      sample(std::string(name) + "_bucket", with_le, static_cast<double>(cumulative));
    }
    sample(std::string(name) + "_sum", labels, h.sum());
    sample(std::string(name) + "_count", labels, static_cast<double>(h.count()));
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

void actors_and_requests(Writer& w, const v1::OpsSnapshot& s) {
  const auto& n = s.node();
  w.single("coach_ready", "gauge", "1 when the node serves commands", s.ready() ? 1 : 0);
  w.single("coach_store_writable", "gauge", "1 while the event store accepts writes",
           s.store_fault().empty() ? 1 : 0);
  w.single("coach_store_resumes_total", "counter",
           "Times the event store reopened itself after a storage fault", s.store_resumes());
  w.single("coach_store_blocking_on_scheduler_total", "counter",
           "Blocking event store calls made on a CAF scheduler thread (should stay 0)",
           static_cast<double>(s.store_blocking_on_scheduler()));
  w.single("coach_uptime_seconds", "gauge", "Seconds since coachd started", s.uptime_seconds());
  const auto& cluster = s.cluster();
  w.single("coach_lease_held", "gauge", "1 while this node holds the node lease (serves)",
           cluster.lease_held() ? 1 : 0);
  w.single("coach_lease_age_seconds", "gauge", "Seconds since the lease's last renewal was sent",
           cluster.lease_age_seconds());
  w.single("coach_partitions", "gauge", "The cluster's partition count (0: not partitioned)",
           cluster.partitions());
  w.single("coach_partitions_held", "gauge", "Partitions this node owns and serves",
           cluster.partitions_held());
  w.single("coach_cluster_members", "gauge", "Live nodes of the cluster, as this node saw them",
           cluster.members());
  // One series per partition this node serves (a partitioned cluster).
  struct PartitionSeries {
    const char* name;
    const char* help;
    double (*value)(const v1::PartitionState&);
  };
  const PartitionSeries partition_series[] = {
      {"coach_partition_lease_age_seconds",
       "Seconds since this node last renewed the partition's lease",
       [](const v1::PartitionState& p) { return p.lease_age_seconds(); }},
      {"coach_partition_catch_up_seconds",
       "Seconds from taking the partition's lease to serving it",
       [](const v1::PartitionState& p) { return p.catch_up_seconds(); }},
      {"coach_partition_caught_up_events",
       "Events applied from the replicated log when this node took the partition",
       [](const v1::PartitionState& p) { return static_cast<double>(p.caught_up_events()); }},
      {"coach_partition_events", "Events in the partition's store (its feed head)",
       [](const v1::PartitionState& p) { return static_cast<double>(p.events()); }},
  };
  for (const auto& series : partition_series) {
    w.family(series.name, "gauge", series.help);
    for (const auto& partition : cluster.partition_map())
      if (partition.served_here())
        w.sample(series.name, {{"partition", std::to_string(partition.partition())}},
                 series.value(partition));
  }
  w.single("coach_requests_forwarded_total", "counter",
           "Requests sent on to the node that owns their user's partition",
           static_cast<double>(s.bus().forwarded()));
  w.single("coach_log_replicas", "gauge", "Replicas of the replicated log (0: a single node)",
           cluster.log_replicas());
  w.single("coach_log_position", "gauge", "Last replicated group this node's store applied",
           static_cast<double>(cluster.log_position()));
  w.single("coach_log_caught_up_groups_total", "counter",
           "Groups of other nodes applied by catching up from the replicated log",
           static_cast<double>(cluster.caught_up_groups()));
  w.single("coach_log_caught_up_events_total", "counter",
           "Feed positions of the groups applied by catching up",
           static_cast<double>(cluster.caught_up_events()));
  w.single("coach_bus_requests_total", "counter", "Requests the NATS gateway received",
           static_cast<double>(s.bus().requests()));
  w.single("coach_bus_bad_requests_total", "counter",
           "Requests answered with an error before any actor",
           static_cast<double>(s.bus().bad_requests()));
  w.single("coach_bus_failed_publishes_total", "counter", "Replies NATS refused to publish",
           static_cast<double>(s.bus().failed_publishes()));
  w.single("coach_bus_dropped_total", "counter",
           "Requests dropped unseen by a full subscription (slow consumer)",
           static_cast<double>(s.bus().dropped()));
  w.single("coach_actors_resident", "gauge", "User actors alive now",
           static_cast<double>(n.resident_actors()));
  w.single("coach_users_passivated", "gauge", "Known users without a resident actor",
           static_cast<double>(s.users_passivated()));
  w.single("coach_users_known", "gauge", "Users with a stream in the store",
           static_cast<double>(s.users_known()));
  w.single("coach_actors_spawned_total", "counter", "User actors started",
           static_cast<double>(n.actors_spawned()));
  w.single("coach_actors_passivated_total", "counter", "User actors stopped for being idle",
           static_cast<double>(n.actors_passivated()));
  w.family("coach_actor_restarts_total", "counter",
           "User actors replaced by supervision after an abnormal stop, by reason");
  for (const auto& [reason, count] :
       std::map(s.restarts_by_reason().begin(), s.restarts_by_reason().end()))
    w.sample("coach_actor_restarts_total", {{"reason", reason}}, static_cast<double>(count));
  w.single("coach_actor_mailbox_depth_max", "gauge",
           "Requests waiting at the user actor with the deepest mailbox",
           s.busiest_size() ? static_cast<double>(s.busiest(0).mailbox()) : 0);
  w.single("coach_requests_in_flight", "gauge", "Requests handed to actors and not yet answered",
           static_cast<double>(n.requests_in_flight()));
  w.single("coach_busy_replies_total", "counter", "Requests refused for overload",
           static_cast<double>(n.busy_replies()));
  w.family("coach_commands_total", "counter", "Requests answered, by operation");
  for (const auto& c : s.commands())
    w.sample("coach_commands_total", {{"operation", c.operation()}},
             static_cast<double>(c.count()));
  w.family("coach_command_errors_total", "counter",
           "Requests answered with an error, by operation");
  for (const auto& c : s.commands())
    w.sample("coach_command_errors_total", {{"operation", c.operation()}},
             static_cast<double>(c.errors()));
  w.family("coach_command_duration_seconds", "histogram",
           "Time from a request's arrival to its reply, by operation");
  for (const auto& c : s.commands())
    w.histogram("coach_command_duration_seconds", {{"operation", c.operation()}}, c.seconds());
}

void store_and_batch(Writer& w, const v1::OpsSnapshot& s) {
  const auto& n = s.node();
  w.single("coach_events_appended_total", "counter", "Events stored by this process",
           static_cast<double>(s.events_appended()));
  w.single("coach_appends_total", "counter", "Append calls that stored events",
           static_cast<double>(s.appends()));
  w.single("coach_group_commits_total", "counter", "Group commits (one fsync each)",
           static_cast<double>(n.group_commits()));
  w.single("coach_event_feed_head", "gauge", "Position of the newest event in the feed",
           static_cast<double>(n.events_stored()));
  w.family("coach_append_group_size", "histogram", "Appends written by one group commit (fsync)");
  w.histogram("coach_append_group_size", {}, s.append_group_size());
  w.family("coach_append_write_duration_seconds", "histogram",
           "Duration of one group commit's synced write");
  w.histogram("coach_append_write_duration_seconds", {}, s.append_write_seconds());
  const auto& b = s.batch();
  w.single("coach_batch_running", "gauge", "1 while a behavior batch run is going",
           b.running() ? 1 : 0);
  w.single("coach_batch_run_users", "gauge", "Users in the batch run going on",
           static_cast<double>(b.users_total()));
  w.single("coach_batch_run_users_done", "gauge", "Users done in the batch run going on",
           static_cast<double>(b.users_done()));
  w.single("coach_batch_runs_total", "counter", "Batch runs since the node started",
           static_cast<double>(b.runs()));
}

void nudges_and_notifications(Writer& w, const v1::OpsSnapshot& s) {
  const auto& n = s.node();
  w.family("coach_llm_breaker_state", "gauge", "The LLM circuit breaker: 1 on its current state");
  for (const char* state : {"closed", "open", "half_open"})
    w.sample("coach_llm_breaker_state", {{"state", state}}, n.llm_breaker() == state ? 1 : 0);
  w.family("coach_nudges_written_total", "counter", "Coaching nudges written, by who wrote them");
  w.sample("coach_nudges_written_total", {{"by", "llm"}}, static_cast<double>(n.nudges_by_llm()));
  w.sample("coach_nudges_written_total", {{"by", "template"}},
           static_cast<double>(n.nudges_by_template()));
  w.family("coach_template_fallbacks_total", "counter",
           "Nudges written from a template instead of the LLM, by reason");
  for (const auto& [reason, count] :
       std::map(n.template_fallbacks().begin(), n.template_fallbacks().end()))
    w.sample("coach_template_fallbacks_total", {{"reason", reason}}, static_cast<double>(count));
  w.single("coach_llm_retries_total", "counter", "LLM requests retried",
           static_cast<double>(n.llm_retries()));
  w.single("coach_llm_tokens_total", "counter", "LLM tokens spent since the node started",
           static_cast<double>(n.llm_tokens_total()));
  w.single("coach_llm_tokens_today", "gauge", "LLM tokens spent this UTC day",
           static_cast<double>(n.llm_tokens_today()));
  w.single("coach_llm_tokens_per_day_budget", "gauge", "The node's LLM token budget per UTC day",
           static_cast<double>(n.llm_tokens_per_day()));
  w.single("coach_llm_queue_depth", "gauge", "Nudges waiting for the LLM",
           static_cast<double>(n.llm_queue()));
  w.single("coach_notifications_published_total", "counter", "Notifications published",
           static_cast<double>(n.notifications_published()));
  w.single("coach_notification_publish_errors_total", "counter",
           "Notifications JetStream did not take",
           static_cast<double>(n.notification_publish_errors()));
  w.single("coach_notifications_pending", "gauge",
           "Notifications in the queue, not yet acknowledged by a delivery gateway",
           static_cast<double>(n.notifications_pending()));
  w.single("coach_dead_letters", "gauge", "Notifications in the dead-letter stream",
           static_cast<double>(n.dead_letters()));
  w.single("coach_nudge_checks_scheduled", "gauge", "Users with a timed nudge check",
           static_cast<double>(n.nudge_checks_scheduled()));
}

}  // namespace

std::string prometheus_text(const v1::OpsSnapshot& snapshot) {
  Writer w;
  actors_and_requests(w, snapshot);
  store_and_batch(w, snapshot);
  nudges_and_notifications(w, snapshot);
  return w.take();
}

}  // namespace coach::actors
