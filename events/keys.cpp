#include "events/keys.h"

namespace coach::events::keys {

void put_u64(std::string& out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8)
    out.push_back(static_cast<char>((v >> shift) & 0xff));
}

uint64_t get_u64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

static std::string user_prefix(const Uuid& user, size_t extra) {
  std::string key;
  key.reserve(16 + extra);
  key.append(reinterpret_cast<const char*>(user.bytes().data()), 16);
  return key;
}

std::string event_key(const Uuid& user, uint64_t sequence) {
  auto key = user_prefix(user, 8);
  put_u64(key, sequence);
  return key;
}

bool parse_event_key(std::string_view key, Uuid& user, uint64_t& sequence) {
  if (key.size() != 24) return false;
  user = Uuid::from_bytes(reinterpret_cast<const uint8_t*>(key.data()));
  sequence = get_u64(key.data() + 16);
  return true;
}

std::string feed_key(uint64_t position) {
  std::string key;
  put_u64(key, position);
  return key;
}

std::string feed_value(const Uuid& user, uint64_t sequence) {
  return event_key(user, sequence);
}

std::string idempotency_key(const Uuid& user, std::string_view key) {
  auto out = user_prefix(user, key.size());
  out.append(key);
  return out;
}

std::string snapshot_key(const Uuid& user, std::string_view projection) {
  auto out = user_prefix(user, projection.size());
  out.append(projection);
  return out;
}

std::string user_key(const Uuid& user) {
  return user_prefix(user, 0);
}

std::string after_user(const Uuid& user) {
  auto key = user_prefix(user, 0);
  // Increment the 16-byte id as a big-endian number; the all-0xff id has no
  // successor of 16 bytes, so a longer key of 0xff bytes bounds it.
  for (size_t i = key.size(); i-- > 0;) {
    if (static_cast<uint8_t>(key[i]) != 0xff) {
      key[i] = static_cast<char>(static_cast<uint8_t>(key[i]) + 1);
      return key;
    }
    key[i] = '\0';
  }
  return std::string(17, '\xff');
}

std::string tombstone_key(const Uuid& user) {
  return "tombstone/" + user_prefix(user, 0);
}

std::string features_key(const Uuid& user, uint64_t as_of_micros) {
  auto out = user_prefix(user, 8);
  put_u64(out, as_of_micros);
  return out;
}

}  // namespace coach::events::keys
