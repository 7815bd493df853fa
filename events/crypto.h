// Encryption at rest. Every user has a random data key; event payloads and
// snapshots are sealed with it (XChaCha20-Poly1305, libsodium). Data keys
// are stored only wrapped (sealed) by the node's master key, which never
// touches the disk of the store: it comes from a file or an environment
// variable. Deleting a user's wrapped data key makes all their stored data
// unreadable for good (crypto-shredding).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/ids.h"
#include "base/result.h"

namespace coach::events {

inline constexpr size_t kKeyBytes = 32;

// A 32-byte secret key, wiped from memory when destroyed.
class SecretKey {
 public:
  SecretKey() = default;
  ~SecretKey();
  SecretKey(const SecretKey& other);
  SecretKey& operator=(const SecretKey& other);

  static SecretKey random();
  // From 64 hex digits (surrounding white space ignored).
  static Result<SecretKey> from_hex(std::string_view hex);
  // From a file holding 64 hex digits; refuses files others may read.
  static Result<SecretKey> from_file(const std::string& path);
  // Reads COACH_MASTER_KEY (hex) if set, else the file; creates the file
  // (mode 0600) with a fresh key when create_if_missing and it is absent.
  static Result<SecretKey> load_master(const std::string& path, bool create_if_missing);

  std::string to_hex() const;
  const uint8_t* data() const { return bytes_.data(); }
  bool empty() const;

 private:
  std::array<uint8_t, kKeyBytes> bytes_{};
};

// Seals `plain` with `key`; `context` is authenticated but not stored (it
// binds the sealed value to where it belongs, e.g. user and sequence).
std::string seal_bytes(const SecretKey& key, std::string_view plain, std::string_view context);
// Opens a value made by seal with the same key and context; false when the
// value was altered, truncated, moved, or sealed with another key.
bool open_bytes(const SecretKey& key, std::string_view sealed, std::string_view context,
                std::string& plain);

// A user's data key wrapped by the master key, and back.
std::string wrap_data_key(const SecretKey& master, const SecretKey& data_key, const Uuid& user);
Result<SecretKey> unwrap_data_key(const SecretKey& master, std::string_view wrapped,
                                  const Uuid& user);

// A keyed hash (BLAKE2b, 16 bytes): stores idempotency keys without their text.
std::string keyed_hash(const SecretKey& key, std::string_view text);

// A fresh secret for a URL (a calendar feed's): 32 random bytes as 64
// lower-case hex digits.
std::string random_secret();
// The digest coach stores in place of a secret (BLAKE2b-256, 64 hex
// digits), so that the log and its copies never hold the secret itself.
std::string secret_digest(std::string_view secret);
// Whether two digests are equal, in time that does not depend on where
// they differ (a feed's secret is checked without a token).
bool same_digest(std::string_view a, std::string_view b);

}  // namespace coach::events
