// Registration and preferences: pure deciders, tested alone.
#include <doctest/doctest.h>

#include "events/envelope.h"
#include "projections/user_profile.h"

using namespace coach;
using namespace coach::projections;

namespace {

// Decides, stamps and folds; returns the decision.
Result<std::vector<v1::TaskEvent>> apply(UserProfile& state, const Uuid& user,
                                         Result<std::vector<v1::TaskEvent>> decided) {
  if (decided)
    for (auto& e : *decided) {
      events::stamp_envelope(e, user, state.profile.version() + 1, coach::Clock::now());
      evolve(state, e);
    }
  return decided;
}

v1::RegisterUser registration(const std::string& email, const std::string& tz) {
  v1::RegisterUser r;
  r.set_email(email);
  r.set_timezone(tz);
  return r;
}

}  // namespace

TEST_CASE("registering sets the defaults and the user's time zone") {
  UserProfile state;
  auto user = Uuid::random();
  REQUIRE(
      apply(state, user, decide_register(state, registration("ada@example.com", "Europe/Berlin"))));
  CHECK(state.registered);
  const auto& p = state.profile;
  CHECK(p.user().id() == user.to_string());
  CHECK(p.user().email() == "ada@example.com");
  CHECK(p.user().timezone() == "Europe/Berlin");
  CHECK(p.preferences().humor_intensity() == 2);
  CHECK(p.preferences().nudges_enabled());
  CHECK_FALSE(p.preferences().behavioral_tracking_enabled());  // opt-in
  CHECK(p.persona().persona_type() == v1::PERSONA_TYPE_COACH);
  CHECK(p.preferences().user_id() == user.to_string());

  auto again = decide_register(state, registration("ada@example.com", "UTC"));
  REQUIRE_FALSE(again);
  CHECK(again.error().code == Errc::conflict);
}

TEST_CASE("bad registrations and preferences are refused with the field named") {
  UserProfile state;
  auto expect = [](const Result<std::vector<v1::TaskEvent>>& r, const char* words) {
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::invalid_argument);
    CHECK_MESSAGE(r.error().message.find(words) != std::string::npos, r.error().message);
  };
  // No address is allowed (imported users), but then no e-mail channel.
  auto no_email = registration("", "UTC");
  no_email.mutable_preferences()->set_delivery_channel(v1::DELIVERY_CHANNEL_EMAIL);
  expect(decide_register(state, no_email), "needs an e-mail address");
  {
    UserProfile silent;
    REQUIRE(apply(silent, Uuid::random(), decide_register(silent, registration("", "UTC"))));
    CHECK(silent.profile.user().email().empty());
    v1::SetPreferences email;
    email.set_delivery_channel(v1::DELIVERY_CHANNEL_EMAIL);
    expect(decide_preferences(silent, email), "needs an e-mail address");
  }
  expect(decide_register(state, registration("no-at-sign", "UTC")), "not an address");
  expect(decide_register(state, registration("a@b.c", "Mars/Olympus_Mons")), "IANA");
  expect(decide_register(state, registration("a@b.c", "../../etc/passwd")), "IANA");
  auto bad_hours = registration("a@b.c", "UTC");
  auto* w = bad_hours.mutable_work_hours()->add_windows();
  w->set_weekday(v1::MONDAY);
  w->set_start_minute(22 * 60);
  w->set_end_minute(2 * 60);
  expect(decide_register(state, bad_hours), "cross midnight");

  auto user = Uuid::random();
  REQUIRE(apply(state, user, decide_register(state, registration("a@b.c", "UTC"))));
  v1::SetPreferences humor;
  humor.set_humor_intensity(9);
  expect(decide_preferences(state, humor), "humor_intensity must be 0 to 5");
  v1::SetPreferences mode;
  mode.set_coaching_mode(static_cast<v1::CoachingMode>(42));
  expect(decide_preferences(state, mode), "coaching_mode");
}

TEST_CASE("preferences change only what is present, no change appends nothing") {
  UserProfile state;
  auto user = Uuid::random();
  REQUIRE(apply(state, user, decide_register(state, registration("a@b.c", "UTC"))));
  v1::SetPreferences change;
  change.set_timezone("Pacific/Kiritimati");  // UTC+14
  change.set_behavioral_tracking_enabled(true);
  change.set_persona_type(v1::PERSONA_TYPE_ROAST);
  auto r = apply(state, user, decide_preferences(state, change));
  REQUIRE(r);
  REQUIRE(r->size() == 1);
  const auto& changed = (*r)[0].preferences_changed().changed();
  CHECK(std::vector<std::string>(changed.begin(), changed.end()) ==
        std::vector<std::string>{"timezone", "preferences.behavioral_tracking_enabled",
                                 "persona.persona_type"});
  CHECK(state.profile.user().timezone() == "Pacific/Kiritimati");
  CHECK(state.profile.preferences().behavioral_tracking_enabled());
  CHECK(state.profile.preferences().humor_intensity() == 2);  // untouched
  auto same = decide_preferences(state, change);
  REQUIRE(same);
  CHECK(same->empty());

  UserProfile stranger;
  auto unregistered = decide_preferences(stranger, change);
  REQUIRE_FALSE(unregistered);
  CHECK(unregistered.error().code == Errc::not_found);
}
