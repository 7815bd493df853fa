#include "projections/nudge_book.h"

#include <date/tz.h>

#include <algorithm>
#include <set>

#include "events/envelope.h"
#include "projections/feature_series.h"
#include "projections/procrastination_model.h"
#include "projections/schedule_book.h"
#include "projections/task_series.h"
#include "projections/user_state.h"

namespace coach::projections {
namespace {

using coach::from_timestamp;
using coach::to_timestamp;
using std::chrono::hours;
using std::chrono::minutes;

constexpr size_t kRecentNudges = 50, kPushedKept = 32, kFiredKept = 256;
constexpr auto kMinGap = minutes(30);
constexpr auto kOverdueForgotten = kAbandonedAfter;  // task_book.h
constexpr uint32_t kDefaultCap = 3, kSnoozesToNudge = 3, kStreakDays = 3;
constexpr int kRatingsToAdapt = 3, kUnhelpfulMean = 2;

int64_t seconds_of(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}
Clock::time_point at_seconds(int64_t s) {
  return Clock::time_point(std::chrono::seconds(s));
}

const date::time_zone* zone_of(const v1::User& user) {
  try {
    return date::locate_zone(user.timezone().empty() ? "UTC" : user.timezone());
  } catch (const std::exception&) {
    return date::locate_zone("UTC");
  }
}

date::local_time<minutes> local_minutes(const v1::User& user, Clock::time_point t) {
  return date::floor<minutes>(zone_of(user)->to_local(date::floor<minutes>(t)));
}

date::local_days local_day(const v1::User& user, Clock::time_point t) {
  return date::floor<date::days>(local_minutes(user, t));
}

bool in_windows(const google::protobuf::RepeatedPtrField<v1::TimeWindow>& windows,
                date::local_time<minutes> local) {
  auto day = date::floor<date::days>(local);
  int weekday = static_cast<int>(date::weekday(day).iso_encoding());
  auto minute = static_cast<uint32_t>((local - day).count());
  for (const auto& w : windows)
    if (w.weekday() == weekday && minute >= w.start_minute() && minute < w.end_minute())
      return true;
  return false;
}

bool in_work_hours(const UserState& state, Clock::time_point now) {
  const auto& user = state.profile.profile.user();
  auto free = work_intervals(user.work_hours(), user.timezone(), now, now + minutes(1));
  return !free.empty() && free.front().first <= now;
}

bool cooled(const NudgeBook& book, const std::string& key, Clock::duration cooldown,
            Clock::time_point now) {
  auto it = book.last_fired().find(key);
  return it == book.last_fired().end() || at_seconds(it->second) + cooldown <= now;
}

std::string relative(Clock::time_point when, Clock::time_point now) {
  auto diff = std::chrono::duration_cast<minutes>(when - now).count();
  bool past = diff < 0;
  auto m = std::abs(diff);
  std::string amount;
  if (m < 60)  // under a minute reads "1 minute"
    amount = m <= 1 ? "1 minute" : std::to_string(m) + " minutes";
  else if (m < 48 * 60)  // rounded: 119 minutes read "2 hours"
    amount = std::to_string((m + 30) / 60) + ((m + 30) / 60 == 1 ? " hour" : " hours");
  else
    amount = std::to_string((m + 720) / 1440) + " days";
  return past ? amount + " ago" : "in " + amount;
}

std::string time_of_day(int hour) {
  if (hour >= 5 && hour < 12) return "morning";
  if (hour >= 12 && hour < 17) return "afternoon";
  if (hour >= 17 && hour < 22) return "evening";
  return "night";
}

double score_of(const UserState& state, Clock::time_point now) {
  if (!state.signals) return -1;
  return ProcrastinationModel::builtin().score(
      features_of(*state.signals, overdue_count(state.tasks, now)));
}

bool open(const v1::Task& t) {
  return t.status() == v1::TASK_STATUS_PENDING || t.status() == v1::TASK_STATUS_SNOOZED;
}

// The context every nudge of this user shares at `now`.
NudgeContext base_context(const UserState& state, Trigger trigger, Clock::time_point now) {
  const auto& profile = state.profile.profile;
  NudgeContext c;
  c.trigger = trigger;
  c.mode = profile.preferences().coaching_mode();
  c.persona = profile.persona().persona_type();
  c.humor = profile.preferences().humor_intensity();
  for (const auto& [id, t] : state.tasks.tasks()) {
    if (!open(t)) continue;
    ++c.pending;
    if (t.has_due_at() && from_timestamp(t.due_at()) < now && !abandoned(t, now)) ++c.overdue;
  }
  c.score = score_of(state, now);
  auto local = local_minutes(profile.user(), now);
  auto day = date::floor<date::days>(local);
  date::hh_mm_ss<minutes> hm(local - day);
  c.time_of_day = time_of_day(static_cast<int>(hm.hours().count()));
  c.local_time = date::format("%A %H:%M", local);
  c.seed = state.version * 2654435761u + static_cast<uint64_t>(trigger);
  return c;
}

NudgeCandidate candidate(const UserState& state, Trigger trigger, const v1::Task* task,
                         Clock::time_point now) {
  NudgeCandidate n;
  n.trigger = trigger;
  n.context = base_context(state, trigger, now);
  n.key = std::string(trigger_name(trigger));
  if (task) {
    n.task_id = task->id();
    n.key += "/" + task->id();
    n.context.title = task->title();
    n.context.snoozes = static_cast<int>(task->snooze_count());
    if (task->has_due_at()) n.context.due = relative(from_timestamp(task->due_at()), now);
  }
  return n;
}

bool started(const UserState& state, const std::string& task_id, Clock::time_point now) {
  for (const auto& b : state.schedule.accepted)
    if (b.task_id == task_id && b.start <= now) return true;
  return false;
}

// How long before its due a task's deadline_approaching nudge may come:
// 48 h for a task likely to end late (its lateness risk at least
// kLikelyLate; for a user without the risk, a procrastination score of 0.5
// or more), else 24 h.
class DeadlineLead {
 public:
  DeadlineLead(const UserState& state, Clock::time_point now) : state_(state), now_(now) {
    if (state.risk)
      sums_ = state.risk->at(now);
    else
      score_high_ = score_of(state, now) >= 0.5;
  }
  Clock::duration operator()(const v1::Task& task) const {
    if (!sums_) return score_high_ ? hours(48) : hours(24);
    auto risk = state_.lateness_risk(*sums_, task, now_);
    return risk && risk->risk >= kLikelyLate ? hours(48) : hours(24);
  }

 private:
  const UserState& state_;
  Clock::time_point now_;
  std::optional<RiskTracker::Sums> sums_;
  bool score_high_ = false;
};

// Days in a row (ending on the day of the last completion) with a completion.
int streak_days(const UserState& state, Clock::time_point* last_completion) {
  const auto& user = state.profile.profile.user();
  std::set<date::local_days> days;
  *last_completion = Clock::time_point{};
  for (const auto& [id, t] : state.tasks.tasks()) {
    if (t.status() != v1::TASK_STATUS_COMPLETED || !t.has_completed_at()) continue;
    auto at = from_timestamp(t.completed_at());
    days.insert(local_day(user, at));
    *last_completion = std::max(*last_completion, at);
  }
  if (days.empty()) return 0;
  int streak = 1;
  for (auto it = std::prev(days.end()); it != days.begin(); --it) {
    if (*std::prev(it) + date::days(1) != *it) break;
    ++streak;
  }
  return streak;
}

std::optional<NudgeCandidate> task_trigger(const UserState& state, Clock::time_point now) {
  const v1::Task* overdue = nullptr;
  const v1::Task* approaching = nullptr;
  const v1::Task* snoozed = nullptr;
  DeadlineLead lead(state, now);
  const auto& book = state.nudges;
  for (const auto& [id, t] : state.tasks.tasks()) {
    if (!open(t) || effective_status(t, now) != v1::TASK_STATUS_PENDING) continue;
    auto key = [&task = t](Trigger tr) {  // clang 14 captures no structured binding
      return std::string(trigger_name(tr)) + "/" + task.id();
    };
    if (t.has_due_at()) {
      auto due = from_timestamp(t.due_at());
      if (due <= now && due > now - kOverdueForgotten &&
          cooled(book, key(Trigger::overdue), hours(24), now) &&
          (!overdue || due < from_timestamp(overdue->due_at())))
        overdue = &t;
      if (due > now && due <= now + lead(t) && !started(state, t.id(), now) &&
          cooled(book, key(Trigger::deadline_approaching), hours(12), now) &&
          (!approaching || due < from_timestamp(approaching->due_at())))
        approaching = &t;
    }
    if (t.snooze_count() >= kSnoozesToNudge &&
        cooled(book, key(Trigger::repeated_snooze) + "/" + std::to_string(t.snooze_count()),
               hours(24 * 365), now) &&
        (!snoozed || t.snooze_count() > snoozed->snooze_count()))
      snoozed = &t;
  }
  if (overdue) return candidate(state, Trigger::overdue, overdue, now);
  if (approaching) return candidate(state, Trigger::deadline_approaching, approaching, now);
  if (snoozed && cooled(book, "repeated_snooze", hours(12), now)) {
    auto n = candidate(state, Trigger::repeated_snooze, snoozed, now);
    n.key += "/" + std::to_string(snoozed->snooze_count());
    return n;
  }
  return std::nullopt;
}

std::optional<NudgeCandidate> plan_trigger(const UserState& state, Clock::time_point now) {
  const auto& book = state.nudges;
  if (!cooled(book, "plan_changed", hours(6), now)) return std::nullopt;
  auto plan = schedule_view(state, 7, now);
  if (!plan) return std::nullopt;
  std::map<std::string, int64_t> first;
  auto note = [&](const v1::ScheduleRecommendation& r) {
    auto s = seconds_of(from_timestamp(r.recommended_start()));
    auto [it, fresh] = first.emplace(r.task_id(), s);
    if (!fresh) it->second = std::min(it->second, s);
  };
  for (const auto& r : plan->recommendations()) note(r);
  for (const auto& r : plan->accepted()) note(r);
  std::set<std::string> risk, before(book.plan_at_risk().begin(), book.plan_at_risk().end());
  // Tasks already past due are the overdue trigger's business, and those
  // that fit but are likely to end late (minutes_short 0) the deadline's.
  auto ahead = [&](const v1::AtRiskTask& a) {
    return from_timestamp(a.due_at()) > now && a.minutes_short() > 0;
  };
  for (const auto& a : plan->at_risk())
    if (ahead(a)) risk.insert(a.task_id());
  std::string what;
  for (const auto& a : plan->at_risk())
    if (ahead(a) && !before.count(a.task_id())) {
      what = "\"" + a.title() + "\" is at risk, " + std::to_string(a.minutes_short()) +
             " minutes short: " + a.suggestion();
      break;
    }
  if (what.empty() && risk.empty() && !before.empty()) what = "everything fits again";
  if (what.empty()) {
    for (const auto& [task, was] : book.plan_first_start()) {
      auto it = first.find(task);
      if (it == first.end() || at_seconds(was) <= now) continue;
      if (std::abs(it->second - was) >= 2 * 3600) {
        const auto* t = state.tasks.find(task);
        auto local = local_minutes(state.profile.profile.user(), at_seconds(it->second));
        what = "\"" + (t ? t->title() : task) + "\" now starts " + date::format("%a %H:%M", local);
        break;
      }
    }
  }
  if (what.empty()) return std::nullopt;
  auto n = candidate(state, Trigger::plan_changed, nullptr, now);
  n.context.plan = what;
  n.plan_first_start = std::move(first);
  n.plan_at_risk.assign(risk.begin(), risk.end());
  return n;
}

std::optional<NudgeCandidate> rhythm_trigger(const UserState& state, Clock::time_point now) {
  const auto& book = state.nudges;
  Clock::time_point last{};
  int streak = streak_days(state, &last);
  if (streak >= static_cast<int>(kStreakDays) && last > now - hours(12) &&
      cooled(book, "streak", hours(20), now)) {
    auto n = candidate(state, Trigger::streak, nullptr, now);
    n.context.streak_days = streak;
    return n;
  }
  if (cooled(book, "completion", hours(4), now)) {
    const v1::Task* done = nullptr;
    for (const auto& [id, t] : state.tasks.tasks()) {
      if (t.status() != v1::TASK_STATUS_COMPLETED || !t.has_due_at()) continue;
      auto at = from_timestamp(t.completed_at());
      if (at > now - hours(2) && at <= from_timestamp(t.due_at()) &&
          cooled(book, "completion/" + t.id(), hours(24 * 365), now) &&
          (!done || at > from_timestamp(done->completed_at())))
        done = &t;
    }
    if (done) return candidate(state, Trigger::completion, done, now);
  }
  return std::nullopt;
}

std::optional<NudgeCandidate> inactivity_trigger(const UserState& state, Clock::time_point now) {
  const auto& book = state.nudges;
  if (book.last_activity() == 0 || at_seconds(book.last_activity()) + hours(24) > now)
    return std::nullopt;
  if (!cooled(book, "inactivity", hours(24), now) || !in_work_hours(state, now))
    return std::nullopt;
  auto n = candidate(state, Trigger::inactivity, nullptr, now);
  if (n.context.pending == 0) return std::nullopt;
  return n;
}

void remember_fired(NudgeBook& book, const std::string& key, int64_t at) {
  auto& fired = *book.mutable_last_fired();
  fired[key] = at;
  auto slash = key.find('/');
  if (slash != std::string::npos) fired[key.substr(0, slash)] = at;  // the trigger's own gap
  if (fired.size() <= kFiredKept) return;
  for (auto it = fired.begin(); it != fired.end();)  // forget the oldest month
    it = it->second < at - 30 * 86400 ? fired.erase(it) : std::next(it);
}

// A pushed nudge (or one held back in its place) at `at`: counted for the
// daily cap and spacing, and for its trigger's cooldown.
void take_slot(NudgeBook& book, const std::string& key, int64_t at) {
  book.add_pushed_at(at);
  if (book.pushed_at_size() > static_cast<int>(kPushedKept))
    book.mutable_pushed_at()->erase(book.mutable_pushed_at()->begin());
  remember_fired(book, key, at);
}

v1::NudgeRecord* find_mutable(NudgeBook& book, const std::string& nudge_id,
                              const std::string& notification_id) {
  for (auto& r : *book.mutable_recent())
    if ((!nudge_id.empty() && r.nudge().id() == nudge_id) ||
        (!notification_id.empty() && r.notification().id() == notification_id))
      return &r;
  return nullptr;
}

v1::CoachingMode gentler(v1::CoachingMode mode) {
  switch (mode) {
    case v1::COACHING_MODE_ROAST:
      return v1::COACHING_MODE_ENCOURAGEMENT;
    case v1::COACHING_MODE_ENCOURAGEMENT:
      return v1::COACHING_MODE_NEUTRAL;
    default:
      return v1::COACHING_MODE_MINIMALIST;
  }
}

// The persona that goes with an adapted (gentler) mode: one never harsher
// than the mode. A roaster becomes a coach when roasts give way to
// encouragement; a roaster or coach becomes neutral with neutral or
// minimalist nudges; chill and neutral personas stay.
v1::PersonaType persona_for(v1::PersonaType persona, v1::CoachingMode mode) {
  bool plain = mode == v1::COACHING_MODE_NEUTRAL || mode == v1::COACHING_MODE_MINIMALIST;
  if (persona == v1::PERSONA_TYPE_ROAST)
    return plain ? v1::PERSONA_TYPE_NEUTRAL : v1::PERSONA_TYPE_COACH;
  if (persona == v1::PERSONA_TYPE_COACH && plain) return v1::PERSONA_TYPE_NEUTRAL;
  return persona;
}

Error invalid(std::string why) {
  return make_error(Errc::invalid_argument, std::move(why));
}

}  // namespace

bool in_notification_window(const v1::Profile& profile, Clock::time_point t) {
  const auto& windows = profile.preferences().notification_window().windows();
  if (windows.empty()) return true;  // no window set: any time
  return in_windows(windows, local_minutes(profile.user(), t));
}

void evolve(NudgeBook& book, const v1::TaskEvent& event) {
  auto at = event.created_at().seconds();
  switch (event.payload_case()) {
    case v1::TaskEvent::kNudgeCreated: {
      const auto& c = event.nudge_created();
      auto* r = book.add_recent();
      *r->mutable_nudge() = c.nudge();
      r->set_position(event.sequence());
      if (c.has_notification()) {
        *r->mutable_notification() = c.notification();
        // One the trial decided to send: its decision took the slot.
        if (c.decision_id().empty()) take_slot(book, c.cooldown_key(), at);
      }
      if (c.nudge().trigger() == trigger_name(Trigger::plan_changed)) {
        *book.mutable_plan_first_start() = c.plan_first_start();
        *book.mutable_plan_at_risk() = c.plan_at_risk();
      }
      if (book.recent_size() > static_cast<int>(kRecentNudges))
        book.mutable_recent()->DeleteSubrange(0, 1);
      book.set_created(book.created() + 1);
      return;
    }
    case v1::TaskEvent::kNudgeDelivered: {
      const auto& d = event.nudge_delivered();
      book.set_delivered(book.delivered() + 1);
      if (auto* r = find_mutable(book, "", d.notification_id())) {
        r->mutable_nudge()->set_delivered(true);
        auto* n = r->mutable_notification();
        n->set_status(v1::NOTIFICATION_STATUS_SENT);
        *n->mutable_delivered_at() = d.delivered_at();
        n->set_attempts(d.attempts());
      }
      return;
    }
    case v1::TaskEvent::kNotificationFailed: {
      const auto& f = event.notification_failed();
      book.set_failed(book.failed() + 1);
      if (auto* r = find_mutable(book, "", f.notification_id())) {
        r->mutable_notification()->set_status(v1::NOTIFICATION_STATUS_FAILED);
        r->mutable_notification()->set_attempts(f.attempts());
      }
      return;
    }
    case v1::TaskEvent::kNudgeDecided: {
      // The decision takes the slot (cooldown, spacing, daily cap), in both
      // arms: how many decision points a user meets must not depend on how
      // earlier draws fell. The NudgeCreated of one sent does not take it
      // again.
      const auto& d = event.nudge_decided();
      take_slot(book, d.cooldown_key(), at);
      if (d.trigger() == trigger_name(Trigger::plan_changed)) {
        *book.mutable_plan_first_start() = d.plan_first_start();
        *book.mutable_plan_at_risk() = d.plan_at_risk();
      }
      return;
    }
    case v1::TaskEvent::kNudgeRated:
      if (auto* r = find_mutable(book, event.nudge_rated().nudge_id(), ""))
        r->set_usefulness(event.nudge_rated().usefulness());
      book.set_last_activity(at);
      return;
    default:
      if (!made_by_miss(event)) book.set_last_activity(at);  // the user's own doing
  }
}

const v1::NudgeRecord* find_nudge(const NudgeBook& book, const std::string& nudge_id) {
  return find_mutable(const_cast<NudgeBook&>(book), nudge_id, "");
}

const v1::NudgeRecord* find_notification(const NudgeBook& book,
                                         const std::string& notification_id) {
  return find_mutable(const_cast<NudgeBook&>(book), "", notification_id);
}

std::string gate_reason(const UserState& state, Clock::time_point now) {
  if (!state.profile.registered) return "the user is not registered";
  const auto& prefs = state.profile.profile.preferences();
  if (!prefs.nudges_enabled()) return "nudges are off";
  if (!in_notification_window(state.profile.profile, now)) return "outside the notification window";
  const auto& user = state.profile.profile.user();
  auto today = local_day(user, now);
  uint32_t cap = prefs.daily_nudge_cap() ? prefs.daily_nudge_cap() : kDefaultCap;
  uint32_t sent_today = 0;
  int64_t last = 0;
  for (auto at : state.nudges.pushed_at()) {
    if (local_day(user, at_seconds(at)) == today) ++sent_today;
    last = std::max(last, at);
  }
  if (sent_today >= cap) return "the daily cap of " + std::to_string(cap) + " is reached";
  if (last && at_seconds(last) + kMinGap > now) return "a nudge went out less than 30 minutes ago";
  return "";
}

std::optional<NudgeCandidate> next_nudge(const UserState& state, Clock::time_point now) {
  if (!gate_reason(state, now).empty()) return std::nullopt;
  if (auto n = task_trigger(state, now)) return n;
  if (auto n = plan_trigger(state, now)) return n;
  if (auto n = inactivity_trigger(state, now)) return n;
  return rhythm_trigger(state, now);
}

Result<NudgeCandidate> on_demand_nudge(const UserState& state, const std::string& task_id,
                                       Clock::time_point now) {
  if (!task_id.empty()) {
    if (auto id = Uuid::parse(task_id, "task_id"); !id) return id.error();
    const auto* task = state.tasks.find(task_id);
    if (!task || task->status() == v1::TASK_STATUS_DELETED)
      return make_error(Errc::not_found, "no task " + task_id);
    if (!open(*task))  // "is the one to do next" about a finished task would be wrong
      return make_error(
          Errc::conflict,
          "task " + task_id +
              (task->status() == v1::TASK_STATUS_MISSED ? " was missed" : " is completed") +
              "; nudges are about pending or snoozed tasks");
    return candidate(state, Trigger::on_demand, task, now);
  }
  // The most pressing open task: earliest due, then highest priority.
  const v1::Task* best = nullptr;
  auto rank = [](const v1::Task& t) {
    auto due = t.has_due_at() ? from_timestamp(t.due_at()) : Clock::time_point::max();
    return std::make_tuple(due, -t.priority(), t.created_at().seconds());
  };
  for (const auto& [id, t] : state.tasks.tasks())
    if (open(t) && (!best || rank(t) < rank(*best))) best = &t;
  if (!best) return candidate(state, Trigger::all_clear, nullptr, now);
  return candidate(state, Trigger::on_demand, best, now);
}

std::optional<Clock::time_point> next_check(const UserState& state, Clock::time_point now) {
  const auto& prefs = state.profile.profile.preferences();
  if (!state.profile.registered || !prefs.nudges_enabled()) return std::nullopt;
  auto latest = now + hours(24);
  auto next = latest;
  auto consider = [&](Clock::time_point t) {
    if (t > now && t < next) next = t;
  };
  DeadlineLead lead(state, now);
  for (const auto& [id, t] : state.tasks.tasks()) {
    if (!open(t)) continue;
    if (t.has_due_at()) {
      auto due = from_timestamp(t.due_at());
      consider(due - hours(48));  // the lead may grow as the risk does
      consider(due - lead(t));
      consider(due);
    }
    if (t.has_snoozed_until()) consider(from_timestamp(t.snoozed_until()));
  }
  for (const auto& [key, at] : state.nudges.last_fired()) consider(at_seconds(at) + hours(4));
  if (state.nudges.last_activity()) consider(at_seconds(state.nudges.last_activity()) + hours(24));
  // Outside the window or over the cap: look again within the hour.
  if (!gate_reason(state, now).empty()) consider(now + minutes(30));
  return std::clamp(next, now + minutes(1), latest);
}

v1::TaskEvent decide_nudge(const UserState& state, const NudgeCandidate& candidate,
                           const WrittenNudge& written, bool on_demand, const std::string& nudge_id,
                           const std::string& notification_id, Clock::time_point now) {
  const auto& prefs = state.profile.profile.preferences();
  v1::TaskEvent event;
  if (!candidate.task_id.empty()) event.set_task_id(candidate.task_id);
  auto* c = event.mutable_nudge_created();
  auto* n = c->mutable_nudge();
  n->set_id(nudge_id);
  n->set_user_id(state.profile.profile.user().id());
  n->set_task_id(candidate.task_id);
  n->set_mode(candidate.context.mode);
  n->set_generated_text(written.text);
  n->set_source(written.source);
  *n->mutable_created_at() = to_timestamp(now);
  n->set_sentiment_score(sentiment(written.text));
  n->set_trigger(std::string(trigger_name(candidate.trigger)));
  c->set_cooldown_key(candidate.key);
  c->set_fallback_reason(written.fallback_reason);
  c->set_decision_id(candidate.decision_id);
  if (!on_demand) {  // a nudge.now goes back in the reply: no channel delivers it
    n->set_delivery_channel(prefs.delivery_channel());
    auto* note = c->mutable_notification();
    note->set_id(notification_id);
    note->set_user_id(n->user_id());
    note->set_nudge_id(nudge_id);
    note->set_status(v1::NOTIFICATION_STATUS_QUEUED);
    note->set_channel(prefs.delivery_channel());
    *note->mutable_created_at() = to_timestamp(now);
  }
  if (candidate.trigger == Trigger::plan_changed) {
    c->mutable_plan_first_start()->insert(candidate.plan_first_start.begin(),
                                          candidate.plan_first_start.end());
    for (const auto& id : candidate.plan_at_risk) c->add_plan_at_risk(id);
  }
  return event;
}

Result<std::vector<v1::TaskEvent>> decide_rate(const UserState& state, const v1::RateNudge& c) {
  if (auto id = Uuid::parse(c.nudge_id(), "nudge_id"); !id) return id.error();
  if (c.usefulness() < 1 || c.usefulness() > 5)
    return invalid("usefulness must be 1 (useless) to 5 (very useful), got " +
                   std::to_string(c.usefulness()));
  if (c.comment().size() > 1000) return invalid("comment must be at most 1000 bytes");
  const auto* rated = find_nudge(state.nudges, c.nudge_id());
  if (!rated) return make_error(Errc::not_found, "no recent nudge " + c.nudge_id());
  std::vector<v1::TaskEvent> events(1);
  auto* r = events[0].mutable_nudge_rated();
  r->set_nudge_id(c.nudge_id());
  r->set_usefulness(c.usefulness());
  r->set_comment(c.comment());

  const auto& profile = state.profile.profile;
  auto mode = profile.preferences().coaching_mode();
  if (!profile.persona().adaptation_enabled() || rated->nudge().mode() != mode ||
      mode == v1::COACHING_MODE_MINIMALIST)
    return events;
  // The last ratings in this mode, this one included.
  int sum = c.usefulness(), count = 1;
  for (auto it = state.nudges.recent().rbegin();
       it != state.nudges.recent().rend() && count < kRatingsToAdapt; ++it)
    if (it->nudge().id() != c.nudge_id() && it->usefulness() > 0 && it->nudge().mode() == mode) {
      sum += it->usefulness();
      ++count;
    }
  if (count < kRatingsToAdapt || sum > kUnhelpfulMean * count) return events;
  v1::SetPreferences change;
  change.set_coaching_mode(gentler(mode));
  change.set_persona_type(persona_for(profile.persona().persona_type(), gentler(mode)));
  change.set_humor_intensity(std::max(0, profile.preferences().humor_intensity() - 1));
  auto adapted = decide_preferences(state.profile, change);
  if (!adapted) return adapted.error();
  for (auto& e : *adapted) {
    e.mutable_preferences_changed()->set_reason(
        "adaptation: the last " + std::to_string(count) + " " +
        v1::CoachingMode_Name(mode).substr(14) + " nudges were rated " +
        std::to_string(static_cast<double>(sum) / count).substr(0, 3) + " of 5 on average");
    events.push_back(std::move(e));
  }
  return events;
}

namespace {

// ReportDelivery.check_only: is the notification still to be sent?
Result<std::vector<v1::TaskEvent>> check_delivery(const UserState& state,
                                                  const v1::ReportDelivery& c) {
  if (c.status() != v1::NOTIFICATION_STATUS_UNSPECIFIED || c.attempts() != 0 ||
      !c.error().empty() || c.dead_lettered())
    return invalid("a check_only report carries no status, attempts, error or dead_lettered");
  if (!c.user_id().empty() && c.user_id() != state.profile.profile.user().id())
    return invalid("user_id " + c.user_id() + " is not the user the check was sent for");
  const auto* record = find_notification(state.nudges, c.notification_id());
  if (!record) return make_error(Errc::not_found, "no recent notification " + c.notification_id());
  if (record->notification().status() != v1::NOTIFICATION_STATUS_QUEUED)
    return make_error(Errc::conflict,
                      "notification " + c.notification_id() + " is " +
                          v1::NotificationStatus_Name(record->notification().status()) +
                          " already: do not send it again");
  return std::vector<v1::TaskEvent>{};
}

}  // namespace

Result<std::vector<v1::TaskEvent>> decide_report(const UserState& state,
                                                 const v1::ReportDelivery& c,
                                                 Clock::time_point now) {
  if (auto id = Uuid::parse(c.notification_id(), "notification_id"); !id) return id.error();
  if (c.check_only()) return check_delivery(state, c);
  if (c.status() != v1::NOTIFICATION_STATUS_SENT && c.status() != v1::NOTIFICATION_STATUS_FAILED)
    return invalid("status must be NOTIFICATION_STATUS_SENT or NOTIFICATION_STATUS_FAILED");
  if (c.error().size() > 500) return invalid("error must be at most 500 bytes");
  if (!c.user_id().empty() && c.user_id() != state.profile.profile.user().id())
    return invalid("user_id " + c.user_id() + " is not the user the report was sent for");
  const auto* record = find_notification(state.nudges, c.notification_id());
  if (!record) return make_error(Errc::not_found, "no recent notification " + c.notification_id());
  if (record->notification().status() != v1::NOTIFICATION_STATUS_QUEUED)
    return std::vector<v1::TaskEvent>{};  // already final: a repeated report
  std::vector<v1::TaskEvent> events(1);
  auto& e = events[0];
  if (!record->nudge().task_id().empty()) e.set_task_id(record->nudge().task_id());
  if (c.status() == v1::NOTIFICATION_STATUS_SENT) {
    auto* d = e.mutable_nudge_delivered();
    d->mutable_nudge()->set_id(record->nudge().id());
    d->set_notification_id(c.notification_id());
    d->set_channel(record->notification().channel());
    *d->mutable_delivered_at() = to_timestamp(now);
    d->set_attempts(std::max(1u, c.attempts()));
  } else {
    auto* f = e.mutable_notification_failed();
    f->set_notification_id(c.notification_id());
    f->set_nudge_id(record->nudge().id());
    f->set_channel(record->notification().channel());
    f->set_attempts(c.attempts());
    f->set_reason(c.error());
    f->set_dead_lettered(c.dead_lettered());
  }
  return events;
}

Result<v1::NudgeList> list_nudges(const NudgeBook& book, const v1::ListNudges& query) {
  uint32_t limit = query.limit();
  if (limit > kRecentNudges) return invalid("limit must be 1 to 50");
  if (limit == 0) limit = 20;
  v1::NudgeList list;
  for (auto it = book.recent().rbegin(); it != book.recent().rend() && limit > 0; ++it) {
    if (query.after_position() > 0 && it->position() <= query.after_position()) break;
    *list.add_nudges() = *it;
    --limit;
  }
  return list;
}

}  // namespace coach::projections
