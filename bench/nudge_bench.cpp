// nudge_bench: the figures of issue #7.
//  1. template nudges: render + check + sentiment + decide, per nudge;
//  2. misfires in the simulator: simulated users (apps/coach-eval/simulator.h)
//     with random zones, notification windows, daily caps and opt-outs, their
//     triggers checked hourly and after every event; a nudge outside the
//     user's window (checked here independently, with date/tz), to an
//     opted-out user, or over the daily cap is a misfire. Must be 0.
//  3. nudge.now end to end through nats-server and coachd, with a stub LLM
//     that takes --llm-delay-ms to answer (the spec: 1-3 s);
//  4. notifications per second through JetStream: published by coachd's
//     Notifier, pulled and acked by a consumer like coach-deliver.
#include <date/tz.h>
#include <fmt/core.h>
#include <nats/nats.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <random>

#include "adapters/notifier.h"
#include "apps/coach-eval/simulator.h"
#include "events/envelope.h"
#include "llm_stub.h"
#include "processes.h"
#include "projections/nudge_book.h"
#include "projections/user_state.h"
#include "schema/internal.pb.h"
#include "support.h"
#include "wire/nats_connect.h"

using namespace coach;
using Steady = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

double ms_since(Steady::time_point start) {
  return std::chrono::duration<double, std::milli>(Steady::now() - start).count();
}

double pct(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[static_cast<size_t>(p * (v.size() - 1))];
}

void template_latency(int count) {
  projections::NudgeContext c;
  c.title = "Write the quarterly report for the board";
  c.due = "in 3 hours";
  c.pending = 7;
  c.time_of_day = "morning";
  projections::UserState state;
  projections::NudgeCandidate candidate;
  candidate.key = "deadline_approaching/x";
  std::vector<double> us;
  us.reserve(static_cast<size_t>(count));
  auto all = Steady::now();
  size_t bytes = 0;
  for (int i = 0; i < count; ++i) {
    auto start = Steady::now();
    c.mode = static_cast<v1::CoachingMode>(1 + i % 4);
    c.trigger = static_cast<projections::Trigger>(i % projections::kTriggerCount);
    c.seed = static_cast<uint64_t>(i);
    candidate.context = c;
    auto text = projections::render_template(c);
    if (!projections::check_text(text)) std::abort();
    auto event = projections::decide_nudge(state, candidate, {text, v1::NUDGE_SOURCE_TEMPLATE, ""},
                                           false, "n", "m", std::chrono::system_clock::now());
    bytes += event.ByteSizeLong();
    us.push_back(ms_since(start) * 1000);
  }
  double total = ms_since(all);
  fmt::print(
      "template nudge (render, check, sentiment, NudgeCreated): {} nudges, p50 {:.2f} us, "
      "p99 {:.2f} us, {:.0f} nudges/s on one core ({} bytes avg event)\n",
      count, pct(us, 0.5), pct(us, 0.99), count / total * 1000, bytes / count);
}

const char* kZones[] = {
    "UTC",        "Europe/Berlin",     "America/New_York", "Asia/Tokyo", "Pacific/Kiritimati",
    "Etc/GMT+12", "Australia/Adelaide"};

bool in_window_independent(const v1::NotificationWindow& w, const std::string& zone,
                           std::chrono::system_clock::time_point t) {
  if (w.windows().empty()) return true;
  auto local = date::zoned_time<std::chrono::seconds>(
                   zone, std::chrono::time_point_cast<std::chrono::seconds>(t))
                   .get_local_time();
  auto day = date::floor<date::days>(local);
  auto minute =
      static_cast<uint32_t>(std::chrono::duration_cast<std::chrono::minutes>(local - day).count());
  unsigned weekday = date::weekday(day).iso_encoding();
  for (const auto& x : w.windows())
    if (static_cast<unsigned>(x.weekday()) == weekday && minute >= x.start_minute() &&
        minute < x.end_minute())
      return true;
  return false;
}

void misfires(int users) {
  std::mt19937_64 rng(7);
  uint64_t nudges = 0, outside = 0, opted_out = 0, over_cap = 0, opted_out_users = 0;
  std::map<std::string, uint64_t> by_trigger;
  auto start = Steady::now();
  for (int u = 0; u < users; ++u) {
    sim::SimOptions options;
    options.registered = true;
    options.days = 30;
    auto simulated =
        sim::simulate(u % static_cast<int>(sim::kArchetypes.size()), 1000 + u, options);
    projections::UserState state;
    std::string zone = kZones[rng() % std::size(kZones)];
    v1::SetPreferences prefs;
    prefs.set_timezone(zone);
    bool enabled = rng() % 5 != 0;
    prefs.set_nudges_enabled(enabled);
    opted_out_users += !enabled;
    uint32_t cap = 1 + static_cast<uint32_t>(rng() % 4);
    prefs.set_daily_nudge_cap(cap);
    if (rng() % 3 != 0)
      for (int day = 1; day <= 7; ++day) {
        auto* w = prefs.mutable_notification_window()->add_windows();
        w->set_weekday(static_cast<v1::Weekday>(day));
        uint32_t from = static_cast<uint32_t>(6 * 60 + rng() % (6 * 60));
        w->set_start_minute(from);
        w->set_end_minute(std::min<uint32_t>(1440, from + 60 + static_cast<uint32_t>(rng() % 600)));
      }
    uint64_t sequence = 0;
    auto fold = [&](v1::TaskEvent e, std::chrono::system_clock::time_point t) {
      events::stamp_envelope(e, Uuid::random(), ++sequence, t);
      state.fold(e);
    };
    std::map<date::local_days, uint32_t> per_day;
    auto check = [&](std::chrono::system_clock::time_point t) {
      auto n = projections::next_nudge(state, t);
      if (!n) return;
      ++nudges;
      ++by_trigger[std::string(projections::trigger_name(n->trigger))];
      const auto& p = state.profile.profile.preferences();
      if (!p.nudges_enabled()) ++opted_out;
      if (!in_window_independent(p.notification_window(), zone, t)) ++outside;
      auto local = date::zoned_time<std::chrono::seconds>(
                       zone, std::chrono::time_point_cast<std::chrono::seconds>(t))
                       .get_local_time();
      if (++per_day[date::floor<date::days>(local)] > cap) ++over_cap;
      fold(projections::decide_nudge(
               state, *n, {projections::render_template(n->context), v1::NUDGE_SOURCE_TEMPLATE, ""},
               false, new_uuid_string(), new_uuid_string(), t),
           t);
    };
    std::chrono::system_clock::time_point last{};
    bool prefs_set = false;
    for (auto& e : simulated.events) {
      auto t = coach::from_timestamp(e.created_at());
      if (prefs_set)
        for (auto tick = date::ceil<std::chrono::hours>(last); tick < t; tick += 1h) check(tick);
      fold(e, t);
      if (!prefs_set && state.profile.registered) {
        auto changed = projections::decide_preferences(state.profile, prefs);
        for (auto& c : *changed) fold(c, t);
        prefs_set = true;
      }
      check(t);
      last = t;
    }
  }
  std::string triggers;
  for (const auto& [name, count] : by_trigger) triggers += fmt::format(" {}={}", name, count);
  fmt::print(
      "misfires in the simulator: {} users ({} opted out), 30 days each, checked hourly and "
      "after every event: {} nudges ({}), outside the window {}, to opted-out users {}, "
      "over the daily cap {}: misfire rate {:.4f} ({:.1f} s)\n",
      users, opted_out_users, nudges, triggers.substr(1), outside, opted_out, over_cap,
      nudges ? static_cast<double>(outside + opted_out + over_cap) / nudges : 0.0,
      ms_since(start) / 1000);
}

void on_demand(int count, int delay_ms) {
  test::TempDir dir;
  test::NatsServer nats(dir.str());
  test::LlmStub llm(test::LlmMode::normal, std::chrono::milliseconds(delay_ms));
  test::Coachd coachd(dir.str() + "/data", nats.url(),
                      {"--llm-url", llm.url(), "--nudge-check-delay-ms", "600000"});
  test::Client client(nats.url(), dir.str() + "/token.key");
  auto user = new_uuid_string();
  if (!client.request("user.register", R"({"email": "b@example.com"})", user) ||
      !client.request("task.create", R"({"title": "Benchmark the nudges"})", user))
    return fmt::print(stderr, "on-demand: coachd did not answer\n");
  std::vector<double> ms;
  int llm_written = 0;
  for (int i = 0; i < count; ++i) {
    auto start = Steady::now();
    auto r = client.request("nudge.now", "", user, "", actors::Encoding::json, 10000);
    ms.push_back(ms_since(start));
    if (r && r->has_nudge() && r->nudge().source() == v1::NUDGE_SOURCE_LLM) ++llm_written;
  }
  fmt::print(
      "nudge.now end to end (NATS -> coachd -> LLM stub answering in {} ms -> reply): {} "
      "requests, {} by the LLM, p50 {:.0f} ms, p99 {:.0f} ms, overhead over the LLM "
      "p50 {:.1f} ms\n",
      delay_ms, count, llm_written, pct(ms, 0.5), pct(ms, 0.99), pct(ms, 0.5) - delay_ms);
}

void crud_while_llm_hangs(int creates) {
  test::TempDir dir;
  test::NatsServer nats(dir.str());
  test::LlmStub llm;
  test::Coachd coachd(dir.str() + "/data", nats.url(),
                      {"--llm-url", llm.url(), "--llm-timeout-ms", "10000", "--llm-workers", "4",
                       "--nudge-check-delay-ms", "50"});
  test::Client client(nats.url(), dir.str() + "/token.key");
  auto due_soon = coach::format_time(std::chrono::system_clock::now() + std::chrono::hours(2));
  int failed = 0;  // requests without a good answer, reported beside the figures
  auto good = [&](const Result<v1::Reply>& r) { failed += !r || r->has_error(); };
  auto user_with_due_task = [&] {
    auto user = new_uuid_string();
    good(client.request("user.register", R"({"email": "b@example.com"})", user));
    good(client.request("task.create",
                        R"({"title": "Send the report", "due_at": ")" + due_soon + "\"}", user));
    return user;
  };
  auto measure = [&](const std::string& user) {
    std::vector<double> ms;
    for (int i = 0; i < creates; ++i) {
      auto start = Steady::now();
      good(client.request("task.create", R"({"title": "quick one"})", user));
      ms.push_back(ms_since(start));
    }
    return ms;
  };
  auto before = measure(user_with_due_task());
  llm.set_mode(test::LlmMode::slow);
  for (int i = 0; i < 12; ++i) user_with_due_task();  // their nudges wait for the LLM
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  auto during = measure(user_with_due_task());
  fmt::print(
      "task.create while the LLM hangs (12 nudges waiting, 4 workers held): p50 {:.2f} -> {:.2f} "
      "ms ({:.2f}x), p99 {:.2f} -> {:.2f} ms ({:.2f}x) over {} creates each, {} failed\n",
      pct(before, 0.5), pct(during, 0.5), pct(during, 0.5) / pct(before, 0.5), pct(before, 0.99),
      pct(during, 0.99), pct(during, 0.99) / pct(before, 0.99), creates, failed);
}

void notifications(int count) {
  test::TempDir dir;
  test::NatsServer nats(dir.str());
  actors::NotifierOptions options;
  options.nats.url = nats.url();
  options.nats.plaintext = true;
  options.nats.creds_file = nats.creds(actors::BusRole::coachd);
  auto notifier = actors::Notifier::start(options);
  if (!notifier) {
    fmt::print(stderr, "notifier: {}\n", notifier.error().message);
    return;
  }
  v1::OutboundNotification out;
  out.mutable_nudge()->set_generated_text(
      "\"Write the report\" is due in 3 hours. You've got this.");
  out.mutable_notification()->set_channel(v1::DELIVERY_CHANNEL_PUSH);
  out.mutable_notification()->set_user_id(new_uuid_string());
  auto start = Steady::now();
  for (int i = 0; i < count; ++i) {
    out.mutable_notification()->set_id(new_uuid_string());
    (*notifier)->publish(out);
  }
  // Wait until JetStream holds them all.
  while ((*notifier)->stats().pending < static_cast<uint64_t>(count) && ms_since(start) < 60000)
    std::this_thread::sleep_for(5ms);
  double publish_ms = ms_since(start);
  actors::NatsConfig gateway;  // as coach-deliver connects
  gateway.url = nats.url();
  gateway.plaintext = true;
  gateway.creds_file = nats.creds(actors::BusRole::deliver, "push");
  auto connected = actors::connect_nats(gateway);
  if (!connected) {
    fmt::print(stderr, "gateway: {}\n", connected.error().message);
    return;
  }
  natsConnection* nc = *connected;
  jsCtx* js = nullptr;
  natsConnection_JetStream(&js, nc, nullptr);
  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Stream = "COACH_NOTIFY";
  so.Consumer = "deliver-push";
  natsSubscription* sub = nullptr;
  jsErrCode err = static_cast<jsErrCode>(0);
  js_PullSubscribe(&sub, js, "coach.notify.push.*", "deliver-push", nullptr, &so, &err);
  int got = 0;
  auto consume = Steady::now();
  while (got < count && ms_since(consume) < 60000) {
    natsMsgList list{};
    if (natsSubscription_Fetch(&list, sub, 256, 1000, &err) != NATS_OK) continue;
    for (int i = 0; i < list.Count; ++i) natsMsg_Ack(list.Msgs[i], nullptr);
    got += list.Count;
    natsMsgList_Destroy(&list);
  }
  double consume_ms = ms_since(consume);
  fmt::print(
      "notifications through JetStream (file storage, one node): published {} in {:.0f} ms "
      "= {:.0f}/s stored; pulled and acked {} in {:.0f} ms = {:.0f}/s; end to end {:.0f}/s\n",
      count, publish_ms, count / publish_ms * 1000, got, consume_ms, got / consume_ms * 1000,
      got / (publish_ms + consume_ms) * 1000);
  natsSubscription_Destroy(sub);
  jsCtx_Destroy(js);
  natsConnection_Destroy(nc);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "nudge_bench: template latency, misfires, nudge.now end to end, CRUD beside a hanging "
      "LLM, notifications/s"};
  int templates = 200'000, users = 600, on_demand_count = 10, llm_delay = 1000,
      notification_count = 20'000;
  std::string only;
  app.add_option("--templates", templates, "template nudges to time");
  app.add_option("--users", users, "simulated users for the misfire count");
  app.add_option("--on-demand", on_demand_count, "nudge.now requests");
  app.add_option("--llm-delay-ms", llm_delay, "how long the stub LLM takes");
  app.add_option("--notifications", notification_count, "notifications through JetStream");
  int hang_creates = 300;
  app.add_option("--hang-creates", hang_creates,
                 "task.create requests before and while the LLM hangs");
  app.add_option("--only", only,
                 "templates, misfires, on-demand, crud-while-llm-hangs or notifications");
  CLI11_PARSE(app, argc, argv);
  if (only.empty() || only == "templates") template_latency(templates);
  if (only.empty() || only == "misfires") misfires(users);
  if (only.empty() || only == "on-demand") on_demand(on_demand_count, llm_delay);
  if (only.empty() || only == "crud-while-llm-hangs") crud_while_llm_hangs(hang_creates);
  if (only.empty() || only == "notifications") notifications(notification_count);
}
