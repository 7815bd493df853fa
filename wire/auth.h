// Bearer tokens: who a request comes from and what they may do.
//
// coachd holds an Ed25519 key pair in a file (mode 0600). Tokens are signed
// with it (coachctl admin token reads the same file) and verified on every
// request: a missing, malformed, tampered, foreign or expired token is
// refused before anything runs.
#pragma once

#include <array>
#include <chrono>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "base/ids.h"
#include "base/result.h"
#include "schema/commands.pb.h"
#include "schema/internal.pb.h"

namespace coach::actors {

using SystemClock = std::chrono::system_clock;

// Longest token accepted; anything longer is refused unread.
inline constexpr size_t kMaxTokenBytes = 1024;

struct Claims {
  Uuid user;
  v1::Role role = v1::ROLE_USER;
  SystemClock::time_point expires_at;
  std::string token_id;
};

// What an operation needs from the caller.
enum class Access {
  own_data,    // the caller's own data: the token's user is the target user
  analytics,   // behavioral analytics: the user themself, or an analyst or admin
  admin,       // node administration: admins only
  aggregates,  // figures over many users (analytics.*): analysts and admins
  delivery,    // a delivery gateway's report: delivery gateways and admins
  // No token: the request's own secret is the credential, checked by the
  // target user's actor (calendar.feed.read: a calendar app has no token).
  // The target is the Coach-User header, which is then required.
  feed_secret,
};

// Whether `claims` may run an operation needing `access` on `target`'s data;
// permission_denied saying why not.
Status authorize(const Claims& claims, const Uuid& target, Access access);

class TokenVerifier {
 public:
  // Checks the signature, then the claims: a known role, a user id, not
  // expired at `now`. Every failure is `unauthenticated` with the reason.
  Result<Claims> verify(std::string_view token, SystemClock::time_point now) const;

 private:
  friend class TokenSigner;
  std::array<uint8_t, 32> public_key_{};
};

// A TokenVerifier that remembers tokens it verified: the same bytes verify
// the same way until they expire, and an Ed25519 check per request cost a
// third of the node's throughput (bench/crud_bench). Thread-safe; holds at
// most `capacity` tokens (then starts over).
class CachingVerifier {
 public:
  explicit CachingVerifier(TokenVerifier verifier, size_t capacity = 100000);
  Result<Claims> verify(std::string_view token, SystemClock::time_point now) const;
  // The same for the value of an Authorization header ("Bearer <token>"),
  // as NATS requests and the ops HTTP endpoints carry it; unauthenticated
  // when it is missing or of another scheme.
  Result<Claims> verify_header(std::string_view authorization, SystemClock::time_point now) const;

 private:
  TokenVerifier verifier_;
  size_t capacity_;
  mutable std::mutex mu_;
  mutable std::unordered_map<std::string, Claims> verified_;
};

class TokenSigner {
 public:
  // Reads the key file, or creates it (mode 0600) when missing and `create`.
  static Result<TokenSigner> load(const std::string& path, bool create);
  static TokenSigner random();  // for tests and benchmarks
  ~TokenSigner();

  std::string issue(const Uuid& user, v1::Role role, std::chrono::seconds ttl,
                    SystemClock::time_point now = SystemClock::now()) const;
  TokenVerifier verifier() const;

 private:
  std::array<uint8_t, 64> secret_key_{};
};

}  // namespace coach::actors
