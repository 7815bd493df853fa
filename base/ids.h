// UUIDs as coach uses them: 16 bytes in storage keys, canonical lowercase
// text ("123e4567-e89b-42d3-a456-426614174000") everywhere else.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.h"

namespace coach {

class Uuid {
 public:
  Uuid() = default;  // the nil UUID

  // Accepts only the canonical 36-character form (either case). Anything
  // else, including NATS wildcards such as "*" or ">", is invalid_argument.
  static Result<Uuid> parse(std::string_view text, std::string_view what = "id");

  // A fresh random (version 4) UUID.
  static Uuid random();

  static Uuid from_bytes(const uint8_t* bytes16);
  // A stable UUID (version 8, custom) derived from `seed`: the same seed
  // always gives the same id. Not secret, not collision-proof against
  // adversaries: for ids coach derives from its own data.
  static Uuid derived(std::string_view seed);

  std::string to_string() const;
  const std::array<uint8_t, 16>& bytes() const { return bytes_; }
  bool is_nil() const;

  friend bool operator==(const Uuid&, const Uuid&) = default;
  friend auto operator<=>(const Uuid&, const Uuid&) = default;

 private:
  std::array<uint8_t, 16> bytes_{};
};

// A fresh random UUID in text form.
std::string new_uuid_string();

struct UuidHash {
  size_t operator()(const Uuid& id) const noexcept;
};

}  // namespace coach
