#include "projections/user_profile.h"

#include <date/tz.h>

#include "base/ids.h"

namespace coach::projections {
namespace {

constexpr size_t kMaxEmailBytes = 254;
constexpr int kMaxWindows = 64;

Error invalid(std::string message) {
  return make_error(Errc::invalid_argument, std::move(message));
}

Status check_email(const std::string& email) {
  auto at = email.find('@');
  if (email.empty()) return invalid("email is required");
  if (email.size() > kMaxEmailBytes) return invalid("email is longer than 254 bytes");
  if (at == std::string::npos || at == 0 || at + 1 == email.size() ||
      email.find('@', at + 1) != std::string::npos ||
      email.find_first_of(" \t\r\n<>\",;") != std::string::npos)
    return invalid("email \"" + email.substr(0, 64) + "\" is not an address like name@example.com");
  return Ok{};
}

Status check_windows(std::string_view field,
                     const google::protobuf::RepeatedPtrField<v1::TimeWindow>& windows) {
  if (windows.size() > kMaxWindows)
    return invalid(std::string(field) + " has more than " + std::to_string(kMaxWindows) +
                   " windows");
  for (const auto& w : windows) {
    if (w.weekday() < v1::MONDAY || w.weekday() > v1::SUNDAY)
      return invalid(std::string(field) + ": weekday must be MONDAY to SUNDAY");
    if (w.start_minute() >= w.end_minute() || w.end_minute() > 24 * 60)
      return invalid(std::string(field) +
                     ": a window needs 0 <= start_minute < end_minute <= 1440, got " +
                     std::to_string(w.start_minute()) + ".." + std::to_string(w.end_minute()) +
                     " (split windows that cross midnight)");
  }
  return Ok{};
}

Status check_time_zone(const std::string& name) {
  if (!known_time_zone(name))
    return invalid("timezone \"" + name.substr(0, 64) +
                   "\" is not an IANA time zone name like Europe/Berlin or America/New_York");
  return Ok{};
}

// Ids and user ids are left to evolve, which derives them from the event.
void apply_defaults(v1::Profile& p) {
  auto& prefs = *p.mutable_preferences();
  prefs.set_humor_intensity(2);
  prefs.set_nudges_enabled(true);
  prefs.set_coaching_mode(v1::COACHING_MODE_ENCOURAGEMENT);
  prefs.set_delivery_channel(v1::DELIVERY_CHANNEL_PUSH);
  prefs.set_behavioral_tracking_enabled(false);
  prefs.set_daily_nudge_cap(3);
  auto& persona = *p.mutable_persona();
  persona.set_persona_type(v1::PERSONA_TYPE_COACH);
  persona.set_adaptation_enabled(true);
  p.mutable_user()->set_timezone("UTC");
}

// Applies `c` to `p` (a copy); returns the names of the fields that changed.
Result<std::vector<std::string>> apply_preferences(v1::Profile& p, const v1::SetPreferences& c) {
  std::vector<std::string> changed;
  auto& prefs = *p.mutable_preferences();
  auto& persona = *p.mutable_persona();
  auto& user = *p.mutable_user();
  if (c.has_timezone() && c.timezone() != user.timezone()) {
    if (auto s = check_time_zone(c.timezone()); !s) return s.error();
    user.set_timezone(c.timezone());
    changed.push_back("timezone");
  }
  if (c.has_work_hours() &&
      c.work_hours().SerializeAsString() != user.work_hours().SerializeAsString()) {
    if (auto s = check_windows("work_hours", c.work_hours().windows()); !s) return s.error();
    *user.mutable_work_hours() = c.work_hours();
    changed.push_back("work_hours");
  }
  if (c.has_humor_intensity() && c.humor_intensity() != prefs.humor_intensity()) {
    if (c.humor_intensity() < 0 || c.humor_intensity() > 5)
      return invalid("humor_intensity must be 0 to 5, got " + std::to_string(c.humor_intensity()));
    prefs.set_humor_intensity(c.humor_intensity());
    changed.push_back("preferences.humor_intensity");
  }
  if (c.has_notification_window() && c.notification_window().SerializeAsString() !=
                                         prefs.notification_window().SerializeAsString()) {
    if (auto s = check_windows("notification_window", c.notification_window().windows()); !s)
      return s.error();
    *prefs.mutable_notification_window() = c.notification_window();
    changed.push_back("preferences.notification_window");
  }
  if (c.has_nudges_enabled() && c.nudges_enabled() != prefs.nudges_enabled()) {
    prefs.set_nudges_enabled(c.nudges_enabled());
    changed.push_back("preferences.nudges_enabled");
  }
  if (c.has_coaching_mode() && c.coaching_mode() != prefs.coaching_mode()) {
    if (c.coaching_mode() == v1::COACHING_MODE_UNSPECIFIED ||
        !v1::CoachingMode_IsValid(c.coaching_mode()))
      return invalid("coaching_mode must be ENCOURAGEMENT, ROAST, NEUTRAL or MINIMALIST");
    prefs.set_coaching_mode(c.coaching_mode());
    changed.push_back("preferences.coaching_mode");
  }
  if (c.has_delivery_channel() && c.delivery_channel() != prefs.delivery_channel()) {
    if (c.delivery_channel() == v1::DELIVERY_CHANNEL_UNSPECIFIED ||
        !v1::DeliveryChannel_IsValid(c.delivery_channel()))
      return invalid("delivery_channel must be PUSH, EMAIL or SMS");
    if (c.delivery_channel() == v1::DELIVERY_CHANNEL_EMAIL && p.user().email().empty())
      return invalid("delivery_channel EMAIL needs an e-mail address, and this user has none");
    prefs.set_delivery_channel(c.delivery_channel());
    changed.push_back("preferences.delivery_channel");
  }
  if (c.has_behavioral_tracking_enabled() &&
      c.behavioral_tracking_enabled() != prefs.behavioral_tracking_enabled()) {
    prefs.set_behavioral_tracking_enabled(c.behavioral_tracking_enabled());
    changed.push_back("preferences.behavioral_tracking_enabled");
  }
  if (c.has_daily_nudge_cap() && c.daily_nudge_cap() != prefs.daily_nudge_cap()) {
    if (c.daily_nudge_cap() < 1 || c.daily_nudge_cap() > 24)
      return invalid("daily_nudge_cap must be 1 to 24, got " + std::to_string(c.daily_nudge_cap()));
    prefs.set_daily_nudge_cap(c.daily_nudge_cap());
    changed.push_back("preferences.daily_nudge_cap");
  }
  if (c.has_nudge_trial_opt_out() && c.nudge_trial_opt_out() != prefs.nudge_trial_opt_out()) {
    prefs.set_nudge_trial_opt_out(c.nudge_trial_opt_out());
    changed.push_back("preferences.nudge_trial_opt_out");
  }
  if (c.has_persona_type() && c.persona_type() != persona.persona_type()) {
    if (c.persona_type() == v1::PERSONA_TYPE_UNSPECIFIED ||
        !v1::PersonaType_IsValid(c.persona_type()))
      return invalid("persona_type must be ROAST, CHILL, COACH or NEUTRAL");
    persona.set_persona_type(c.persona_type());
    changed.push_back("persona.persona_type");
  }
  if (c.has_adaptation_enabled() && c.adaptation_enabled() != persona.adaptation_enabled()) {
    persona.set_adaptation_enabled(c.adaptation_enabled());
    changed.push_back("persona.adaptation_enabled");
  }
  return changed;
}

}  // namespace

bool known_time_zone(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  try {
    return date::locate_zone(name) != nullptr;
  } catch (const std::exception&) {
    return false;  // date reports an unknown zone by throwing
  }
}

Result<std::vector<v1::TaskEvent>> decide_register(const UserProfile& state,
                                                   const v1::RegisterUser& c) {
  if (state.registered) return make_error(Errc::conflict, "user is already registered");
  // Optional: without one, no e-mail notifications (an import brings users
  // whose address coach does not know, and never makes one up).
  if (!c.email().empty())
    if (auto s = check_email(c.email()); !s) return s.error();
  v1::Profile p;
  apply_defaults(p);
  p.mutable_user()->set_email(c.email());
  v1::SetPreferences initial = c.preferences();
  if (!c.timezone().empty()) initial.set_timezone(c.timezone());
  if (c.has_work_hours()) *initial.mutable_work_hours() = c.work_hours();
  if (auto changed = apply_preferences(p, initial); !changed) return changed.error();
  v1::TaskEvent event;
  auto* r = event.mutable_user_registered();
  r->set_email(c.email());
  r->set_timezone(p.user().timezone());
  *r->mutable_work_hours() = p.user().work_hours();
  *r->mutable_preferences() = p.preferences();
  *r->mutable_persona() = p.persona();
  return std::vector<v1::TaskEvent>{std::move(event)};
}

Result<std::vector<v1::TaskEvent>> decide_preferences(const UserProfile& state,
                                                      const v1::SetPreferences& c) {
  if (!state.registered)
    return make_error(Errc::not_found, "user is not registered; send coach.v1.user.register first");
  v1::Profile p = state.profile;
  auto changed = apply_preferences(p, c);
  if (!changed) return changed.error();
  if (changed->empty()) return std::vector<v1::TaskEvent>{};
  v1::TaskEvent event;
  auto* m = event.mutable_preferences_changed();
  m->set_timezone(p.user().timezone());
  *m->mutable_work_hours() = p.user().work_hours();
  *m->mutable_preferences() = p.preferences();
  *m->mutable_persona() = p.persona();
  for (auto& name : *changed) m->add_changed(std::move(name));
  return std::vector<v1::TaskEvent>{std::move(event)};
}

void evolve(UserProfile& state, const v1::TaskEvent& event) {
  auto& p = state.profile;
  p.set_version(event.sequence());
  if (event.has_user_registered()) {
    const auto& r = event.user_registered();
    state.registered = true;
    auto& user = *p.mutable_user();
    user.set_id(event.user_id());
    user.set_email(r.email());
    *user.mutable_created_at() = event.created_at();
    user.set_timezone(r.timezone());
    *user.mutable_work_hours() = r.work_hours();
    *p.mutable_preferences() = r.preferences();
    *p.mutable_persona() = r.persona();
    // Stable ids derived from the event, so replays give the same profile.
    for (auto* id : {p.mutable_preferences()->mutable_id(), p.mutable_persona()->mutable_id()})
      *id = event.event_id();
    p.mutable_preferences()->set_user_id(event.user_id());
    p.mutable_persona()->set_user_id(event.user_id());
    for (auto* t :
         {p.mutable_preferences()->mutable_created_at(),
          p.mutable_preferences()->mutable_updated_at(), p.mutable_persona()->mutable_created_at(),
          p.mutable_persona()->mutable_updated_at()})
      *t = event.created_at();
  } else if (event.has_calendar_feed_changed()) {
    state.calendar_feed_digest = event.calendar_feed_changed().secret_digest();
  } else if (event.has_preferences_changed()) {
    const auto& m = event.preferences_changed();
    p.mutable_user()->set_timezone(m.timezone());
    *p.mutable_user()->mutable_work_hours() = m.work_hours();
    auto keep_prefs = p.preferences();
    auto keep_persona = p.persona();
    *p.mutable_preferences() = m.preferences();
    *p.mutable_persona() = m.persona();
    // ids and creation times never change after registration
    p.mutable_preferences()->set_id(keep_prefs.id());
    *p.mutable_preferences()->mutable_created_at() = keep_prefs.created_at();
    *p.mutable_preferences()->mutable_updated_at() = event.created_at();
    p.mutable_persona()->set_id(keep_persona.id());
    *p.mutable_persona()->mutable_created_at() = keep_persona.created_at();
    *p.mutable_persona()->mutable_updated_at() = event.created_at();
  }
}

}  // namespace coach::projections
