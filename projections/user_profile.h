// UserProfile: who the user is and how they want coach to behave, as a pure
// fold of their events, with the deciders for registering and for changing
// preferences.
//
// Defaults (applied at registration, changeable later): time zone "UTC",
// humor intensity 2, nudges on, coaching mode encouragement, delivery by
// push, behavioral tracking off (opt-in, as the product spec assumes), at
// most 3 nudges a day, persona "coach" with adaptation on.
#pragma once

#include <chrono>
#include <vector>

#include "base/ids.h"
#include "base/result.h"
#include "schema/commands.pb.h"
#include "schema/events.pb.h"

namespace coach::projections {

struct UserProfile {
  bool registered = false;
  v1::Profile profile;  // user, preferences, persona, version
  // The digest of the calendar feed's secret (events/crypto.h); empty: no
  // feed. Kept out of Profile, so user.get never shows it.
  std::string calendar_feed_digest;
};

// True when `name` is a time zone of the IANA database (e.g. "Europe/Berlin").
bool known_time_zone(const std::string& name);

// The UserRegistered event for `user`, or why not (conflict when already
// registered, invalid_argument for a bad field).
Result<std::vector<v1::TaskEvent>> decide_register(const UserProfile& state,
                                                   const v1::RegisterUser& command);

// The PreferencesChanged event, none when nothing differs, or why not.
Result<std::vector<v1::TaskEvent>> decide_preferences(const UserProfile& state,
                                                      const v1::SetPreferences& command);

// Folds one event; events that are not about the profile advance the version.
void evolve(UserProfile& state, const v1::TaskEvent& event);

}  // namespace coach::projections
