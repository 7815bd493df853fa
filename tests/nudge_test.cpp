// Coaching nudges, pure parts: triggers and their gates (window, zone, cap,
// cooldown, opt-out), the template library and its kindness, sentiment,
// persona adaptation, delivery reports and the nudge book's fold.
#include <doctest/doctest.h>

#include <regex>

#include <google/protobuf/util/time_util.h>

#include <map>
#include <set>

#include "events/envelope.h"
#include "person.h"
#include "projections/insights.h"
#include "projections/nudge_book.h"
#include "projections/user_state.h"
#include "support.h"

using namespace coach;
using namespace coach::projections;
using namespace std::chrono_literals;
using TimePoint = Clock::time_point;

namespace {

using test::Person;
using test::utc;

void window(v1::NotificationWindow& w, int weekday, int start, int end) {
  auto* t = w.add_windows();
  t->set_weekday(static_cast<v1::Weekday>(weekday));
  t->set_start_minute(static_cast<uint32_t>(start));
  t->set_end_minute(static_cast<uint32_t>(end));
}

}  // namespace

TEST_CASE("the template library: varied per mode and trigger, kind, and filled") {
  std::map<std::pair<int, int>, int> per_cell;
  for (const auto& t : all_templates()) ++per_cell[{t.mode, static_cast<int>(t.trigger)}];
  CHECK(per_cell.size() == 4 * kTriggerCount);
  for (const auto& cell : per_cell)  // no structured binding: CHECK_MESSAGE's lambda (clang 14)
    CHECK_MESSAGE(cell.second >= 4,
                  "mode/trigger " << cell.first.first << "/" << cell.first.second);

  // Every template, with short, long, odd and empty fills: passes the
  // blocklist and the length limit, and leaves no placeholder behind.
  std::vector<NudgeContext> contexts(3);
  contexts[0].title = "Write report";
  contexts[0].due = "in 3 hours";
  contexts[1].title = std::string(300, 'x');
  contexts[1].due = "12 days ago";
  contexts[1].snoozes = 9;
  contexts[1].streak_days = 14;
  contexts[1].pending = 120;
  contexts[1].plan = "\"Slides\" now starts Tue 14:00";
  contexts[1].time_of_day = "evening";
  for (const auto& c : contexts)
    for (const auto& t : all_templates()) {
      auto text = fill_template(t.text, c);
      CHECK_MESSAGE(check_text(text), text);
      CHECK_MESSAGE(text.find('{') == std::string::npos, text);
    }
  for (int mode = 1; mode <= 4; ++mode)
    for (int trigger = 0; trigger < kTriggerCount; ++trigger)
      for (int persona = 1; persona <= 4; ++persona)
        for (int humor = 0; humor <= 5; ++humor)
          for (uint64_t seed = 0; seed < 6; ++seed) {
            NudgeContext c = contexts[1];
            c.mode = static_cast<v1::CoachingMode>(mode);
            c.trigger = static_cast<Trigger>(trigger);
            c.persona = static_cast<v1::PersonaType>(persona);
            c.humor = humor;
            c.seed = seed;
            auto text = render_template(c);
            REQUIRE_MESSAGE(check_text(text), text);
          }

  // The seed picks among variants; roasts stay mild at low humor.
  NudgeContext c;
  c.mode = v1::COACHING_MODE_ROAST;
  c.trigger = Trigger::overdue;
  c.title = "Taxes";  // a user's own title is not advice
  std::set<std::string> seen;
  for (uint64_t seed = 0; seed < 20; ++seed) {
    c.seed = seed;
    c.humor = 5;
    seen.insert(render_template(c));
  }
  CHECK(seen.size() >= 4);
  c.humor = 0;
  for (uint64_t seed = 0; seed < 20; ++seed) {
    c.seed = seed;
    auto text = render_template(c);
    bool mild = false;
    for (const auto& t : all_templates())
      if (t.mode == c.mode && t.trigger == c.trigger && t.heat <= 1 &&
          text.rfind(fill_template(t.text, c), 0) == 0)
        mild = true;
    CHECK_MESSAGE(mild, text);
  }
}

namespace {

// What a careful reader would mark in a generated sentence: number
// agreement ("1 tasks", "3 task", "(s)"), a/an, spacing and punctuation,
// a lower-case start of a sentence, "since" with a relative time, and a
// missing final stop. Empty when the text reads right.
std::vector<std::string> grammar_problems(const std::string& text) {
  static const std::vector<std::pair<std::regex, std::string>> rules = {
      {std::regex(R"((^|[^\d.,])1 (open |more )?(tasks|times|days|snoozes|hours|minutes)\b)"),
       "a plural noun after 1"},
      {std::regex(R"((^|[^\d.,])(0|[2-9]|\d\d+) (open )?(task|time|day|snooze|hour|minute)\b[^-])"),
       "a singular noun after a number other than 1"},
      {std::regex(R"(\btask (are|remain)\b|\btasks (is|remains)\b)"), "verb agreement"},
      {std::regex(R"(\(s\))"), "a plural written as (s)"},
      {std::regex(R"(\b[Aa] ([aeiouAEIOU]|8|11\b|18\b|11[^\d,.]|18[^\d,.]))"),
       "'a' before a vowel sound"},
      {std::regex(R"(\b[Aa]n [b-df-gj-np-tv-zB-DF-GJ-NP-TV-Z0-79])"), "'an' before a consonant"},
      {std::regex(R"(  | [.,;:!?])"), "spacing before punctuation or a double space"},
      // "coach" is the product's name, lower case by style.
      {std::regex(R"([.!?] (?!coach\b)[a-z])"), "a sentence starting in lower case"},
      {std::regex(R"(^(?!coach\b)[a-z])"), "a text starting in lower case"},
      {std::regex(R"(since (in \d|\d+ \w+ ago|soon))"), "'since' with a relative time"},
      {std::regex(R"((is|are) due \d+ \w+ ago)"), "'is due' with a past time"},
      {std::regex(R"([^.!?"')]$)"), "no final punctuation"},
  };
  std::vector<std::string> found;
  for (const auto& [rule, why] : rules)
    if (std::regex_search(text, rule)) found.push_back(why);
  return found;
}

}  // namespace

TEST_CASE("grammar: every template and insight reads right for every count") {
  CHECK(grammar_problems("1 tasks is waiting.").size() == 2);  // the checker can fail
  CHECK(grammar_problems("A 8-day streak").size() == 2);
  CHECK(grammar_problems("Open since 3 days ago. go").size() == 3);
  CHECK(grammar_problems("\"Report\" is due in 3 hours. 1 task is open, 2 are not.").empty());

  // Due times as the nudge book writes them: future ones for deadlines,
  // past ones for overdue tasks, either for an on-demand pick.
  const std::vector<std::string> future = {"in 1 minute", "in 3 hours", "in 2 days", "soon"};
  const std::vector<std::string> past = {"1 minute ago", "1 hour ago", "12 days ago"};
  size_t checked = 0;
  for (const auto& t : all_templates()) {
    std::vector<std::string> dues = future;
    if (t.trigger == Trigger::overdue) dues = past;
    if (t.trigger == Trigger::on_demand) dues.insert(dues.end(), past.begin(), past.end());
    for (const auto& due : dues)
      for (int n : {0, 1, 2, 3, 8, 11, 18, 21, 80})
        for (const auto* when : {"morning", "evening", ""}) {
          NudgeContext c;
          c.trigger = t.trigger;
          c.title = "Write report";
          c.due = due;
          c.snoozes = c.streak_days = c.pending = c.overdue = n;
          c.time_of_day = when;
          c.plan = "\"Slides\" now starts Tue 14:00";
          auto text = fill_template(t.text, c);
          for (const auto& problem : grammar_problems(text)) FAIL_CHECK(problem << ": " << text);
          ++checked;
        }
  }
  CHECK(checked > 1000);
  // With each persona's sign-off.
  for (int persona = 1; persona <= 4; ++persona)
    for (uint64_t seed = 0; seed < 12; ++seed) {
      NudgeContext c;
      c.persona = static_cast<v1::PersonaType>(persona);
      c.trigger = Trigger::inactivity;
      c.pending = 1;
      c.seed = seed;
      auto text = render_template(c);
      for (const auto& problem : grammar_problems(text)) FAIL_CHECK(problem << ": " << text);
    }

  // Insights, for a user with nothing, one and several of everything.
  for (int n : {0, 1, 3}) {
    auto t0 = utc("2026-03-02T10:00:00Z");
    Person p;
    v1::SetPreferences on;
    on.set_behavioral_tracking_enabled(true);
    p.set(on, t0);
    for (int i = 0; i < n; ++i) {
      auto done = p.task("done " + std::to_string(i), t0 + 1h, t0 + 1min);
      p.snooze(done, t0 + 3h, t0 + 2min);
      p.complete(done, t0 + 4h);
      p.task("overdue " + std::to_string(i), t0 + 5h, t0 + 5min);
    }
    auto insights = describe_insights(p.state.profile, p.state.tasks,
                                      p.state.signals ? &*p.state.signals : nullptr, t0 + 10h);
    for (const auto& insight : insights.items())
      for (const auto& problem : grammar_problems(insight.explanation()))
        FAIL_CHECK(problem << ": " << insight.explanation());
    for (const auto& problem : grammar_problems(insights.summary()))
      FAIL_CHECK(problem << ": " << insights.summary());
  }
}

TEST_CASE("check_text refuses insults, medical and financial advice, empty and long text") {
  CHECK(check_text("Finish the slides this afternoon. You've got this."));
  CHECK_FALSE(check_text("You are lazy, finish it."));
  CHECK_FALSE(check_text("Stop being an IDIOT."));
  CHECK_FALSE(check_text("Maybe adjust your medication before the deadline."));
  CHECK_FALSE(check_text("Put your bonus into index stocks."));
  CHECK_FALSE(check_text("Consider crypto."));
  CHECK_FALSE(check_text("   "));
  CHECK_FALSE(check_text(std::string(kMaxNudgeChars + 1, 'a')));
  CHECK(check_text("The deadline is near."));  // "dead" is a whole word only
}

TEST_CASE("sentiment: celebrations positive, overdue notices negative, no cue neutral") {
  CHECK(sentiment("Great work! Done, and on time. Proud of you.") > 0.5);
  CHECK(sentiment("Overdue: report. Late since Monday.") < 0);
  CHECK(sentiment("Next: report.") == 0);
  CHECK(sentiment("") == 0);
  for (const auto& t : all_templates()) {
    auto s = sentiment(fill_template(t.text, {}));
    CHECK(s >= -1);
    CHECK(s <= 1);
  }
}

TEST_CASE("deadline, overdue and snooze triggers, each with its cooldown") {
  auto t0 = utc("2026-03-02T10:00:00Z");
  Person p;
  auto id = p.task("Report", t0 + 2h, t0);
  p.task("Someday", std::nullopt, t0);
  auto n = p.check(t0);
  REQUIRE(n);
  CHECK(n->trigger() == "deadline_approaching");
  CHECK(n->task_id() == id);
  CHECK(n->generated_text().find("Report") != std::string::npos);
  CHECK(n->source() == v1::NUDGE_SOURCE_TEMPLATE);
  CHECK_FALSE(p.check(t0 + 1h));  // cooled down (12 h), and 30 min gap anyway

  // Past due: overdue fires (a different trigger), then not again for 24 h.
  n = p.check(t0 + 3h);
  REQUIRE(n);
  CHECK(n->trigger() == "overdue");
  auto quiet = p.check(t0 + 5h);
  CHECK_MESSAGE(!quiet, (quiet ? quiet->trigger() : ""));
  // The daily cap (3) is not reached yet: the next day it fires again.
  n = p.check(t0 + 27h + 1min);
  REQUIRE(n);
  CHECK(n->trigger() == "overdue");

  // Snoozed three times: repeated_snooze, once per further snooze.
  Person q;
  auto s = q.task("Taxes", std::nullopt, t0);
  for (int i = 1; i <= 3; ++i)
    q.snooze(s, t0 + std::chrono::hours(i), t0 + std::chrono::minutes(i));
  n = q.check(t0 + 4h);
  REQUIRE(n);
  CHECK(n->trigger() == "repeated_snooze");
  CHECK(n->task_id() == s);
  CHECK_FALSE(q.check(t0 + 5h));
  q.snooze(s, t0 + 30h, t0 + 6h);
  CHECK_FALSE(q.check(t0 + 7h));  // 12 h between snooze nudges
  n = q.check(t0 + 31h);
  REQUIRE(n);
  CHECK(n->trigger() == "repeated_snooze");

  // A block of the task that already began means it was started.
  Person r;
  auto started = r.task("Slides", t0 + 5h, t0);
  v1::AcceptRecommendation accept;
  accept.set_task_id(started);
  *accept.mutable_start() = coach::to_timestamp(t0 + 1h);
  *accept.mutable_end() = coach::to_timestamp(t0 + 2h);
  r.fold_all(decide_accept(r.state, accept, t0), t0);
  CHECK(r.check(t0 + 30min));  // not started yet: nudged
  Person r2;
  auto started2 = r2.task("Slides", t0 + 5h, t0);
  accept.set_task_id(started2);
  r2.fold_all(decide_accept(r2.state, accept, t0), t0);
  CHECK_FALSE(r2.check(t0 + 90min));
}

TEST_CASE("gates: nudges off, the notification window in the user's zone, the daily cap") {
  auto t0 = utc("2026-03-02T06:00:00Z");  // Monday 07:00 in Berlin
  Person p("Europe/Berlin");
  for (int i = 0; i < 6; ++i)
    p.task("Task " + std::to_string(i), t0 + std::chrono::hours(i + 3), t0);

  v1::SetPreferences off;
  off.set_nudges_enabled(false);
  p.set(off, t0);
  CHECK(gate_reason(p.state, t0) == "nudges are off");
  CHECK_FALSE(p.check(t0 + 1h));
  CHECK_FALSE(next_check(p.state, t0));

  v1::SetPreferences on;
  on.set_nudges_enabled(true);
  for (int day = 1; day <= 5; ++day)
    window(*on.mutable_notification_window(), day, 9 * 60, 12 * 60);
  p.set(on, t0);
  CHECK(gate_reason(p.state, t0 + 1h) == "outside the notification window");  // 08:00 local
  CHECK_FALSE(p.check(t0 + 1h));
  auto next = next_check(p.state, t0 + 1h);
  REQUIRE(next);
  CHECK(*next <= t0 + 1h + 30min);

  // 09:00 to 12:00 local: three nudges (the cap), 30 minutes apart at least.
  int sent = 0;
  for (auto t = t0 + 3h; t < t0 + 6h; t += 10min)
    if (auto n = p.check(t)) {
      ++sent;
      auto hour = local_hour_in("Europe/Berlin", t);
      CHECK(hour >= 9);
      CHECK(hour < 12);
    }
  CHECK(sent == 3);
  CHECK(gate_reason(p.state, t0 + 5h - 1min).find("daily cap") != std::string::npos);
  // The cap counts local days: the next Berlin morning has room again.
  CHECK(gate_reason(p.state, t0 + 24h + 3h) == "");
}

TEST_CASE("celebrations: a streak of days and a task done on time") {
  auto t0 = utc("2026-03-02T12:00:00Z");
  Person p;
  v1::SetPreferences cap;
  cap.set_daily_nudge_cap(10);
  p.set(cap, t0);
  auto early = p.task("Early bird", t0 + 48h, t0);
  p.complete(early, t0 + 10min);
  auto n = p.check(t0 + 20min);
  REQUIRE(n);
  CHECK(n->trigger() == "completion");
  CHECK(n->sentiment_score() > 0);
  CHECK_FALSE(p.check(t0 + 3h));  // once per task

  for (int day = 1; day <= 2; ++day) {
    auto when = t0 + std::chrono::hours(24 * day);
    p.complete(p.task("Daily " + std::to_string(day), std::nullopt, when), when);
  }
  n = p.check(t0 + 48h + 1h);
  REQUIRE(n);
  CHECK(n->trigger() == "streak");
  CHECK(n->generated_text().find('3') != std::string::npos);
}

TEST_CASE("inactivity inside work hours, and a plan that changed materially") {
  auto t0 = utc("2026-03-02T08:00:00Z");  // Monday
  Person p;
  p.task("Open thing", std::nullopt, t0);
  CHECK_FALSE(p.check(t0 + 23h));
  auto n = p.check(t0 + 25h);  // Tuesday 09:00 UTC, default work hours
  REQUIRE(n);
  CHECK(n->trigger() == "inactivity");
  Person q;
  q.task("Open thing", std::nullopt, t0);
  CHECK_FALSE(q.check(t0 + 24h + 10h));  // 18:00: after work hours

  // Overload: more work than fits before the due puts a task at risk.
  Person r;
  v1::SetPreferences cap;
  cap.set_daily_nudge_cap(10);
  r.set(cap, t0);
  auto big = [&](const char* title) {
    v1::TaskCommand c;
    c.mutable_create()->set_task_id(new_uuid_string());
    c.mutable_create()->set_title(title);
    c.mutable_create()->set_estimated_minutes(600);
    *c.mutable_create()->mutable_due_at() = coach::to_timestamp(t0 + 60h);
    r.run(c, t0);
  };
  big("Thesis chapter");
  auto quiet = r.check(t0 + 1h);  // plenty of time: only nothing or non-plan nudges
  if (quiet) CHECK(quiet->trigger() != "plan_changed");
  big("Grant proposal");
  std::optional<v1::CoachingNudge> plan;
  for (auto t = t0 + 2h; t < t0 + 8h && !plan; t += 30min)
    if (auto m = r.check(t); m && m->trigger() == "plan_changed") plan = m;
  REQUIRE(plan);
  CHECK(plan->generated_text().find("at risk") != std::string::npos);
  // Nothing new: no second push.
  for (auto t = t0 + 9h; t < t0 + 20h; t += 30min)
    if (auto m = r.check(t)) CHECK(m->trigger() != "plan_changed");
}

namespace {

// Three nudges in `mode`, each rated 1, with adaptation on: the mode and
// persona that follow.
std::pair<v1::CoachingMode, v1::PersonaType> adapted(v1::CoachingMode mode,
                                                     v1::PersonaType persona) {
  auto t0 = utc("2026-03-02T10:00:00Z");
  Person p;
  v1::SetPreferences start;
  start.set_coaching_mode(mode);
  start.set_persona_type(persona);
  start.set_adaptation_enabled(true);
  p.set(start, t0);
  for (int i = 0; i < 3; ++i) {
    auto n = on_demand_nudge(p.state, "", t0);
    REQUIRE(n);
    auto e = decide_nudge(p.state, *n, {render_template(n->context), v1::NUDGE_SOURCE_TEMPLATE, ""},
                          true, new_uuid_string(), "", t0);
    p.fold(e, t0);
    v1::RateNudge rate;
    rate.set_usefulness(1);
    rate.set_nudge_id(e.nudge_created().nudge().id());
    p.fold_all(decide_rate(p.state, rate), t0);
  }
  const auto& profile = p.state.profile.profile;
  return {profile.preferences().coaching_mode(), profile.persona().persona_type()};
}

}  // namespace

TEST_CASE("persona adaptation moves the persona with the mode, never harsher than it") {
  using M = v1::CoachingMode;
  using P = v1::PersonaType;
  struct Case {
    M mode;
    P persona;
    M mode_after;
    P persona_after;
  };
  for (auto c : std::vector<Case>{
           {v1::COACHING_MODE_ROAST, v1::PERSONA_TYPE_ROAST, v1::COACHING_MODE_ENCOURAGEMENT,
            v1::PERSONA_TYPE_COACH},
           {v1::COACHING_MODE_ROAST, v1::PERSONA_TYPE_CHILL, v1::COACHING_MODE_ENCOURAGEMENT,
            v1::PERSONA_TYPE_CHILL},
           {v1::COACHING_MODE_ENCOURAGEMENT, v1::PERSONA_TYPE_COACH, v1::COACHING_MODE_NEUTRAL,
            v1::PERSONA_TYPE_NEUTRAL},
           {v1::COACHING_MODE_ENCOURAGEMENT, v1::PERSONA_TYPE_ROAST, v1::COACHING_MODE_NEUTRAL,
            v1::PERSONA_TYPE_NEUTRAL},
           {v1::COACHING_MODE_NEUTRAL, v1::PERSONA_TYPE_CHILL, v1::COACHING_MODE_MINIMALIST,
            v1::PERSONA_TYPE_CHILL},
           {v1::COACHING_MODE_MINIMALIST, v1::PERSONA_TYPE_COACH, v1::COACHING_MODE_MINIMALIST,
            v1::PERSONA_TYPE_COACH},
       }) {
    CAPTURE(v1::CoachingMode_Name(c.mode));
    CAPTURE(v1::PersonaType_Name(c.persona));
    auto [mode, persona] = adapted(c.mode, c.persona);
    CHECK(v1::CoachingMode_Name(mode) == v1::CoachingMode_Name(c.mode_after));
    CHECK(v1::PersonaType_Name(persona) == v1::PersonaType_Name(c.persona_after));
  }
}

TEST_CASE("persona adaptation: roasts rated unhelpful move the mode, recorded with a reason") {
  auto t0 = utc("2026-03-02T10:00:00Z");
  for (bool adaptation : {true, false}) {
    Person p;
    v1::SetPreferences roast;
    roast.set_coaching_mode(v1::COACHING_MODE_ROAST);
    roast.set_humor_intensity(4);
    roast.set_adaptation_enabled(adaptation);
    p.set(roast, t0);
    std::vector<std::string> ids;
    for (int i = 0; i < 3; ++i) {
      auto n = on_demand_nudge(p.state, "", t0);
      REQUIRE(n);
      auto e =
          decide_nudge(p.state, *n, {render_template(n->context), v1::NUDGE_SOURCE_TEMPLATE, ""},
                       true, new_uuid_string(), "", t0);
      p.fold(e, t0);
      ids.push_back(e.nudge_created().nudge().id());
      CHECK(e.nudge_created().nudge().mode() == v1::COACHING_MODE_ROAST);
    }
    v1::RateNudge rate;
    rate.set_usefulness(1);
    for (size_t i = 0; i < ids.size(); ++i) {
      rate.set_nudge_id(ids[i]);
      auto events = decide_rate(p.state, rate);
      REQUIRE(events);
      bool last = i + 1 == ids.size();
      CHECK(events->size() == (adaptation && last ? 2u : 1u));
      if (events->size() == 2) {
        CHECK(events->back().preferences_changed().reason().find("adaptation") == 0);
      }
      p.fold_all(std::move(events), t0);
    }
    auto mode = p.state.profile.profile.preferences().coaching_mode();
    CHECK(mode == (adaptation ? v1::COACHING_MODE_ENCOURAGEMENT : v1::COACHING_MODE_ROAST));
    CHECK(p.state.profile.profile.preferences().humor_intensity() == (adaptation ? 3 : 4));
    CHECK(find_nudge(p.state.nudges, ids[0])->usefulness() == 1);
  }
  Person p;
  v1::RateNudge bad;
  bad.set_nudge_id(new_uuid_string());
  bad.set_usefulness(3);
  CHECK(decide_rate(p.state, bad).error().code == Errc::not_found);
  bad.set_usefulness(9);
  CHECK(decide_rate(p.state, bad).error().code == Errc::invalid_argument);
  bad.set_nudge_id("nope");
  CHECK(decide_rate(p.state, bad).error().code == Errc::invalid_argument);
}

TEST_CASE("delivery reports: sent once, repeats ignored, failures counted, survive snapshots") {
  auto t0 = utc("2026-03-02T10:00:00Z");
  Person p;
  p.task("Report", t0 + 2h, t0);
  auto n = p.check(t0);
  REQUIRE(n);
  auto record = p.state.nudges.recent(0);
  CHECK(record.notification().status() == v1::NOTIFICATION_STATUS_QUEUED);
  CHECK(record.notification().channel() == v1::DELIVERY_CHANNEL_PUSH);
  v1::ReportDelivery report;
  report.set_notification_id(record.notification().id());
  report.set_status(v1::NOTIFICATION_STATUS_SENT);
  report.set_attempts(2);
  p.fold_all(decide_report(p.state, report, t0 + 1min), t0 + 1min);
  auto repeated = decide_report(p.state, report, t0 + 2min);
  REQUIRE(repeated);
  CHECK(repeated->empty());
  report.set_notification_id(new_uuid_string());
  CHECK(decide_report(p.state, report, t0).error().code == Errc::not_found);
  report.set_status(v1::NOTIFICATION_STATUS_QUEUED);
  CHECK(decide_report(p.state, report, t0).error().code == Errc::invalid_argument);

  auto saved = UserState::parse(p.state.serialize(), p.state.version);
  REQUIRE(saved);
  const auto* back = find_notification(saved->nudges, record.notification().id());
  REQUIRE(back);
  CHECK(back->notification().status() == v1::NOTIFICATION_STATUS_SENT);
  CHECK(back->notification().attempts() == 2);
  CHECK(back->nudge().delivered());
  CHECK(saved->nudges.delivered() == 1);
  CHECK(gate_reason(*saved, t0 + 10min) == gate_reason(p.state, t0 + 10min));
  auto list = list_nudges(saved->nudges, {});
  REQUIRE(list);
  CHECK(list->nudges_size() == 1);
  v1::ListNudges too_many;
  too_many.set_limit(51);
  CHECK(list_nudges(saved->nudges, too_many).error().code == Errc::invalid_argument);
}

TEST_CASE("each nudge has its position in the log, and a feed resumes after one") {
  auto t0 = utc("2026-03-02T10:00:00Z");
  Person p;
  std::vector<uint64_t> positions;
  for (int i = 0; i < 4; ++i) {
    p.task("T" + std::to_string(i), t0 + 48h, t0);
    auto n = on_demand_nudge(p.state, "", t0);
    REQUIRE(n);
    auto e = decide_nudge(p.state, *n, {render_template(n->context), v1::NUDGE_SOURCE_TEMPLATE, ""},
                          true, new_uuid_string(), "", t0);
    p.fold(e, t0);
    positions.push_back(p.sequence);
  }
  auto all = list_nudges(p.state.nudges, {});
  REQUIRE(all);
  REQUIRE(all->nudges_size() == 4);
  for (int i = 0; i < 4; ++i) CHECK(all->nudges(i).position() == positions[3 - i]);

  v1::ListNudges after;
  after.set_after_position(positions[1]);
  auto rest = list_nudges(p.state.nudges, after);
  REQUIRE(rest);
  REQUIRE(rest->nudges_size() == 2);
  CHECK(rest->nudges(0).position() == positions[3]);
  CHECK(rest->nudges(1).position() == positions[2]);
  after.set_limit(1);  // the newest of them
  CHECK(list_nudges(p.state.nudges, after)->nudges(0).position() == positions[3]);
  after.set_limit(0);
  after.set_after_position(positions[3]);
  CHECK(list_nudges(p.state.nudges, after)->nudges_size() == 0);

  auto saved = UserState::parse(p.state.serialize(), p.state.version);
  REQUIRE(saved);
  CHECK(list_nudges(saved->nudges, {})->nudges(0).position() == positions[3]);
}

TEST_CASE("next_check wakes for the next lead or due time, within a day") {
  auto t0 = utc("2026-03-02T10:00:00Z");
  Person p;
  auto none = next_check(p.state, t0);
  REQUIRE(none);
  CHECK(*none == t0 + 24h);
  p.task("Later", t0 + 30h, t0);
  auto next = next_check(p.state, t0);
  REQUIRE(next);
  CHECK(*next == t0 + 6h);  // 24 h before its due
  CHECK(*next_check(p.state, t0 + 6h) >= t0 + 6h + 1min);
}

TEST_CASE("the prompt carries task, due, scores, time of day and mode, never a blocked word") {
  auto t0 = utc("2026-03-02T15:30:00Z");
  Person p("America/New_York");
  p.task("Quarterly report", t0 + 3h, t0);
  auto n = on_demand_nudge(p.state, "", t0);
  REQUIRE(n);
  auto prompt = build_prompt(n->context);
  CHECK(prompt.user.find("Quarterly report") != std::string::npos);
  CHECK(prompt.user.find("in 3 hours") != std::string::npos);
  CHECK(prompt.user.find("Monday 10:30 (morning)") != std::string::npos);
  CHECK(prompt.system.find("encouragement") != std::string::npos);
  CHECK(prompt.system.find("never the person") != std::string::npos);
  CHECK(on_demand_nudge(p.state, new_uuid_string(), t0).error().code == Errc::not_found);
}

TEST_CASE("the deadline nudge comes 48 h ahead for a task likely to end late, 24 h otherwise") {
  auto t0 = utc("2026-03-02T10:00:00Z");
  auto lead_for = [&](int days_late) {
    Person p("UTC", t0 - 30 * 24h);
    v1::SetPreferences on;
    on.set_behavioral_tracking_enabled(true);
    p.set(on, t0 - 30 * 24h);
    for (int i = 0; i < 4; ++i) {  // four tasks, every one finished days_late after its due
      auto due = t0 - std::chrono::hours(24 * (20 - 4 * i));
      auto id = p.task("essay " + std::to_string(i), due, due - 72h);
      p.complete(id, due + std::chrono::hours(24 * days_late));
    }
    auto x = p.task("Next essay", t0 + 36h, t0);
    const auto* task = p.state.tasks.find(x);
    REQUIRE(task);
    REQUIRE(p.state.risk);
    auto risk = p.state.lateness_risk(p.state.risk->at(t0), *task, t0);
    REQUIRE(risk);
    auto n = p.check(t0);
    return std::make_pair(risk->risk, n && n->trigger() == "deadline_approaching");
  };
  auto [tardy_risk, tardy_nudged] = lead_for(2);
  auto [punctual_risk, punctual_nudged] = lead_for(-1);
  CHECK(tardy_risk >= 0.5);
  CHECK(punctual_risk < 0.5);
  CHECK(tardy_nudged);  // due in 36 h: inside the 48 h lead of a likely-late task
  CHECK_FALSE(punctual_nudged);
}
