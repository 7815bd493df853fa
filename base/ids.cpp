#include "base/ids.h"

#include <sys/random.h>

#include <cstring>

namespace coach {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool is_dash_position(size_t i) {
  return i == 8 || i == 13 || i == 18 || i == 23;
}

}  // namespace

Result<Uuid> Uuid::parse(std::string_view text, std::string_view what) {
  Uuid id;
  bool valid = text.size() == 36;
  for (size_t i = 0, byte = 0; valid && i < 36; ++i) {
    if (is_dash_position(i)) {
      valid = text[i] == '-';
      continue;
    }
    int hi = hex_value(text[i]), lo = hex_value(text[i + 1]);
    valid = hi >= 0 && lo >= 0;
    id.bytes_[byte++] = static_cast<uint8_t>(hi << 4 | lo);
    ++i;
  }
  if (valid) return id;
  std::string shown(text.substr(0, 64));
  return make_error(Errc::invalid_argument,
                    std::string(what) +
                        " must be a UUID like 123e4567-e89b-42d3-a456-426614174000, got \"" +
                        shown + (text.size() > 64 ? "...\"" : "\""));
}

Uuid Uuid::random() {
  // The kernel's CSPRNG directly: libuuid's generator serializes threads on
  // a glibc-internal lock, which showed up as the top cost of appends, and
  // its parser calls strtoul per byte; the text form is simple enough to
  // read and write here.
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

Uuid Uuid::derived(std::string_view seed) {
  auto fnv1a = [&](uint64_t h) {
    for (unsigned char c : seed) h = (h ^ c) * 0x100000001b3ULL;
    return h;
  };
  uint64_t a = fnv1a(0xcbf29ce484222325ULL), b = fnv1a(0x6c62272e07bb0142ULL);
  Uuid id;
  for (int i = 0; i < 8; ++i) {
    id.bytes_[static_cast<size_t>(i)] = static_cast<uint8_t>(a >> (56 - 8 * i));
    id.bytes_[static_cast<size_t>(8 + i)] = static_cast<uint8_t>(b >> (56 - 8 * i));
  }
  id.bytes_[6] = static_cast<uint8_t>((id.bytes_[6] & 0x0f) | 0x80);  // version 8
  id.bytes_[8] = static_cast<uint8_t>((id.bytes_[8] & 0x3f) | 0x80);  // RFC 4122 variant
  return id;
}

std::string Uuid::to_string() const {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string text(36, '-');
  for (size_t i = 0, byte = 0; i < 36; ++i) {
    if (is_dash_position(i)) continue;
    text[i] = kHex[bytes_[byte] >> 4];
    text[++i] = kHex[bytes_[byte++] & 0xf];
  }
  return text;
}

bool Uuid::is_nil() const {
  for (auto b : bytes_)
    if (b != 0) return false;
  return true;
}

std::string new_uuid_string() {
  return Uuid::random().to_string();
}

size_t UuidHash::operator()(const Uuid& id) const noexcept {
  // Random UUIDs are uniformly distributed: any 8 bytes make a good hash.
  uint64_t h;
  std::memcpy(&h, id.bytes().data() + 8, sizeof h);
  return static_cast<size_t>(h);
}

}  // namespace coach
