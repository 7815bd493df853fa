// coachctl's readers of what people type (apps/coachctl/when.h): dates in
// zones with odd rules (+14, -11, a 30-minute DST change, a change at
// midnight) around a DST change, durations, weekly windows. No input may
// crash them, a refusal is always invalid_argument, and windows shown read
// back as the same windows. The first byte picks the zone and the hour.
#include <date/tz.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "apps/coachctl/when.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace coach;
  if (size < 1) return 0;
  static const date::time_zone* zones[] = {date::locate_zone("UTC"),
                                           date::locate_zone("Europe/Berlin"),
                                           date::locate_zone("Pacific/Kiritimati"),
                                           date::locate_zone("Pacific/Pago_Pago"),
                                           date::locate_zone("Australia/Lord_Howe"),
                                           date::locate_zone("America/Santiago")};
  const auto* zone = zones[data[0] % 6];
  std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
  // 2026-03-27T09:00:00Z (Berlin's change is two days later) plus 0-31 hours.
  auto now = ctl::Seconds{std::chrono::seconds(1774602000 + 3600 * (data[0] >> 3))};
  for (auto day : {ctl::DayTime::end, ctl::DayTime::start}) {
    auto at = ctl::parse_when(text, now, zone, day);
    if (at) {
      (void)ctl::local_time(*at, zone);
      (void)ctl::relative_due(*at, now);
    } else if (at.error().code != Errc::invalid_argument) {
      __builtin_trap();
    }
  }
  if (auto d = ctl::parse_duration(text)) (void)ctl::show_duration(*d);
  if (auto w = ctl::parse_windows(text)) {
    auto shown = ctl::show_windows(*w);
    auto again = ctl::parse_windows(shown);  // what is shown reads back the same
    if (!w->empty() && (!again || *again != *w)) __builtin_trap();
  }
  return 0;
}
