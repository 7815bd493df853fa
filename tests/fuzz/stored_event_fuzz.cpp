// Fuzzes the decoding of stored events and snapshots. Byte 0 picks a mode:
//   even: the rest is a stored value as found on disk (sealed or not);
//   odd:  the rest is a protobuf body, sealed here with the right key so the
//         decoder gets past the AEAD and parses it (envelope checks).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "events/codec.h"
#include "events/crypto.h"

using namespace coach;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto key = events::SecretKey::random();
  static const auto user = *Uuid::parse("123e4567-e89b-42d3-a456-426614174000");
  if (size == 0) return 0;
  std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  if (data[0] % 2 == 0) {
    (void)events::decode_event(rest, user, 7, key);
    (void)events::decode_snapshot(rest, user, "user", key);
  } else {
    std::string stored =
        "\x02" + events::seal_bytes(key, rest, [] {
          std::string context(reinterpret_cast<const char*>(user.bytes().data()), 16);
          for (int shift = 56; shift >= 0; shift -= 8)
            context.push_back(static_cast<char>((uint64_t{7} >> shift) & 0xff));
          return context;
        }());
    auto event = events::decode_event(stored, user, 7, key);
    // A stored event that decodes is one the store could have written.
    if (event && (event->sequence() != 7 || event->user_id() != user.to_string())) std::abort();
  }
  (void)events::parse_event(rest, events::kDefaultMaxEventBytes);
  return 0;
}
