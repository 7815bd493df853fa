#include "events/ids.h"

#include <sys/random.h>
#include <uuid/uuid.h>

#include <cstring>

namespace coach {

Result<Uuid> Uuid::parse(std::string_view text, std::string_view what) {
  auto invalid = [&] {
    std::string shown(text.substr(0, 64));
    return make_error(Errc::invalid_argument,
                      std::string(what) + " must be a UUID like 123e4567-e89b-42d3-a456-426614174000, got \"" +
                          shown + (text.size() > 64 ? "...\"" : "\""));
  };
  if (text.size() != 36) return invalid();
  char buf[37];
  std::memcpy(buf, text.data(), 36);
  buf[36] = '\0';
  for (size_t i = 0; i < 36; ++i) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    char c = buf[i];
    bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    if (dash ? c != '-' : !hex) return invalid();
  }
  Uuid id;
  if (uuid_parse(buf, id.bytes_.data()) != 0) return invalid();
  return id;
}

Uuid Uuid::random() {
  // The kernel's CSPRNG directly: libuuid's generator serializes threads on
  // a glibc-internal lock, which showed up as the top cost of appends.
  Uuid id;
  size_t got = 0;
  while (got < id.bytes_.size()) {
    auto n = getrandom(id.bytes_.data() + got, id.bytes_.size() - got, 0);
    if (n > 0) got += static_cast<size_t>(n);
  }
  id.bytes_[6] = static_cast<uint8_t>((id.bytes_[6] & 0x0f) | 0x40);  // version 4
  id.bytes_[8] = static_cast<uint8_t>((id.bytes_[8] & 0x3f) | 0x80);  // RFC 4122 variant
  return id;
}

Uuid Uuid::from_bytes(const uint8_t* bytes16) {
  Uuid id;
  std::memcpy(id.bytes_.data(), bytes16, 16);
  return id;
}

std::string Uuid::to_string() const {
  char buf[37];
  uuid_unparse_lower(bytes_.data(), buf);
  return std::string(buf, 36);
}

bool Uuid::is_nil() const {
  for (auto b : bytes_)
    if (b != 0) return false;
  return true;
}

std::string new_uuid_string() { return Uuid::random().to_string(); }

size_t UuidHash::operator()(const Uuid& id) const noexcept {
  // Random UUIDs are uniformly distributed: any 8 bytes make a good hash.
  uint64_t h;
  std::memcpy(&h, id.bytes().data() + 8, sizeof h);
  return static_cast<size_t>(h);
}

}  // namespace coach
