#include "wire/auth.h"
#include "base/private_file.h"

#include <sodium.h>
#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "base/time.h"
#include "schema/internal.pb.h"

namespace coach::actors {
namespace {

constexpr std::string_view kPrefix = "v1.";
constexpr int kBase64 = sodium_base64_VARIANT_URLSAFE_NO_PADDING;

Error refused(const std::string& why) {
  return make_error(Errc::unauthenticated, why);
}

std::string base64(std::string_view bytes) {
  std::string out(sodium_base64_encoded_len(bytes.size(), kBase64), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bytes.data()),
                    bytes.size(), kBase64);
  out.resize(std::strlen(out.c_str()));
  return out;
}

bool unbase64(std::string_view text, std::string& out) {
  out.assign(text.size(), '\0');
  size_t length = 0;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), text.data(),
                        text.size(), nullptr, &length, nullptr, kBase64) != 0)
    return false;
  out.resize(length);
  return true;
}

}  // namespace

Status authorize(const Claims& claims, const Uuid& target, Access access) {
  bool own = claims.user == target;
  if (claims.role == v1::ROLE_DELIVERY && access != Access::delivery)
    return make_error(Errc::permission_denied,
                      "a delivery gateway's token may only report deliveries "
                      "(admin.notification.report)");
  switch (access) {
    case Access::own_data:
      if (own) return Ok{};
      return make_error(Errc::permission_denied, "a token of user " + claims.user.to_string() +
                                                     " cannot act on the data of user " +
                                                     target.to_string());
    case Access::analytics:
      if (own || claims.role == v1::ROLE_ANALYST || claims.role == v1::ROLE_ADMIN) return Ok{};
      return make_error(Errc::permission_denied,
                        "behavioral analytics of another user need an analyst or admin token");
    case Access::aggregates:
      if (claims.role == v1::ROLE_ANALYST || claims.role == v1::ROLE_ADMIN) return Ok{};
      return make_error(Errc::permission_denied,
                        "figures over users need an analyst or admin token");
    case Access::admin:
      if (claims.role == v1::ROLE_ADMIN) return Ok{};
      return make_error(Errc::permission_denied, "this operation needs an admin token");
    case Access::delivery:
      if (claims.role == v1::ROLE_DELIVERY || claims.role == v1::ROLE_ADMIN) return Ok{};
      return make_error(Errc::permission_denied,
                        "reporting deliveries needs a delivery gateway's (or an admin's) token");
    case Access::feed_secret:
      return Ok{};  // the actor checks the secret
  }
  return make_error(Errc::permission_denied, "unknown access");
}

CachingVerifier::CachingVerifier(TokenVerifier verifier, size_t capacity)
    : verifier_(verifier), capacity_(capacity) {}

Result<Claims> CachingVerifier::verify_header(std::string_view authorization,
                                              SystemClock::time_point now) const {
  if (authorization.empty())
    return make_error(Errc::unauthenticated,
                      "header Authorization: Bearer <token> is missing (coachctl admin token "
                      "issues tokens)");
  constexpr std::string_view kBearer = "Bearer ";
  if (authorization.substr(0, kBearer.size()) != kBearer)
    return make_error(Errc::unauthenticated, "header Authorization must be \"Bearer <token>\"");
  return verify(authorization.substr(kBearer.size()), now);
}

Result<Claims> CachingVerifier::verify(std::string_view token, SystemClock::time_point now) const {
  if (token.size() <= kMaxTokenBytes) {
    std::lock_guard lock(mu_);
    if (auto it = verified_.find(std::string(token)); it != verified_.end()) {
      if (it->second.expires_at > now) return it->second;
      verified_.erase(it);
    }
  }
  auto claims = verifier_.verify(token, now);  // outside the lock: the slow part
  if (claims) {
    std::lock_guard lock(mu_);
    if (verified_.size() >= capacity_) verified_.clear();
    verified_.emplace(std::string(token), *claims);
  }
  return claims;
}

Result<Claims> TokenVerifier::verify(std::string_view token, SystemClock::time_point now) const {
  if (token.size() > kMaxTokenBytes)
    return refused("token is longer than " + std::to_string(kMaxTokenBytes) + " bytes");
  auto dot = token.rfind('.');
  if (token.substr(0, kPrefix.size()) != kPrefix || dot == std::string_view::npos ||
      dot <= kPrefix.size())
    return refused("token is not a coach token (v1.<claims>.<signature>)");
  std::string claims_bytes, signature;
  if (!unbase64(token.substr(kPrefix.size(), dot - kPrefix.size()), claims_bytes) ||
      !unbase64(token.substr(dot + 1), signature) || signature.size() != crypto_sign_BYTES)
    return refused("token is not a coach token (bad base64)");
  auto signed_part = token.substr(0, dot);
  if (crypto_sign_verify_detached(reinterpret_cast<const unsigned char*>(signature.data()),
                                  reinterpret_cast<const unsigned char*>(signed_part.data()),
                                  signed_part.size(), public_key_.data()) != 0)
    return refused("token signature does not verify (tampered, or issued by another node)");
  v1::TokenClaims claims;
  if (!claims.ParseFromString(claims_bytes)) return refused("token claims do not parse");
  auto user = Uuid::parse(claims.user_id(), "token user_id");
  if (!user) return refused(user.error().message);
  if (claims.role() == v1::ROLE_UNSPECIFIED || !v1::Role_IsValid(claims.role()))
    return refused("token has no valid role");
  auto expires = coach::from_timestamp(claims.expires_at());
  if (expires <= now) return refused("token expired; ask for a new one");
  return Claims{*user, claims.role(), expires, claims.token_id()};
}

Result<TokenSigner> TokenSigner::load(const std::string& path, bool create) {
  if (sodium_init() < 0) return make_error(Errc::internal, "libsodium did not initialise");
  TokenSigner signer;
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) {
    if (!create) return make_error(Errc::not_found, "no token key file at " + path);
    signer = random();
    auto old_mask = umask(077);
    std::ofstream out(path);
    std::string hex(2 * signer.secret_key_.size() + 1, '\0');
    sodium_bin2hex(hex.data(), hex.size(), signer.secret_key_.data(), signer.secret_key_.size());
    out << hex.c_str() << "\n";
    out.close();
    umask(old_mask);
    if (!out) return make_error(Errc::io_error, "cannot write token key file " + path);
    return signer;
  }
  auto text = coach::read_owner_only(path, "token key file");
  if (!text) return text.error();
  std::istringstream in(*text);
  std::string hex;
  in >> hex;
  size_t length = 0;
  if (sodium_hex2bin(signer.secret_key_.data(), signer.secret_key_.size(), hex.data(), hex.size(),
                     nullptr, &length, nullptr) != 0 ||
      length != signer.secret_key_.size())
    return make_error(Errc::invalid_argument,
                      "token key file " + path + " must hold 128 hex digits (an Ed25519 key)");
  return signer;
}

TokenSigner TokenSigner::random() {
  if (sodium_init() < 0) std::abort();
  TokenSigner signer;
  std::array<uint8_t, 32> public_key{};
  crypto_sign_keypair(public_key.data(), signer.secret_key_.data());
  return signer;
}

TokenSigner::~TokenSigner() {
  sodium_memzero(secret_key_.data(), secret_key_.size());
}

std::string TokenSigner::issue(const Uuid& user, v1::Role role, std::chrono::seconds ttl,
                               SystemClock::time_point now) const {
  v1::TokenClaims claims;
  claims.set_user_id(user.to_string());
  claims.set_role(role);
  *claims.mutable_issued_at() = coach::to_timestamp(now);
  *claims.mutable_expires_at() = coach::to_timestamp(now + ttl);
  claims.set_token_id(new_uuid_string());
  std::string token = std::string(kPrefix) + base64(claims.SerializeAsString());
  std::array<unsigned char, crypto_sign_BYTES> signature{};
  crypto_sign_detached(signature.data(), nullptr,
                       reinterpret_cast<const unsigned char*>(token.data()), token.size(),
                       secret_key_.data());
  return token + "." + base64({reinterpret_cast<const char*>(signature.data()), signature.size()});
}

TokenVerifier TokenSigner::verifier() const {
  TokenVerifier v;
  crypto_sign_ed25519_sk_to_pk(v.public_key_.data(), secret_key_.data());
  return v;
}

}  // namespace coach::actors
