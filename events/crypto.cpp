#include "events/crypto.h"
#include "base/private_file.h"

#include <sodium.h>
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace coach::events {
namespace {

constexpr size_t kNonceBytes = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
constexpr size_t kTagBytes = crypto_aead_xchacha20poly1305_ietf_ABYTES;

// libsodium must be initialised once before use; doing it here, on first
// use, keeps that detail inside this file.
void ensure_sodium() {
  static const bool ready = [] { return sodium_init() >= 0; }();
  if (!ready) std::abort();  // no safe randomness: nothing can be encrypted
}

const unsigned char* bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

}  // namespace

SecretKey::~SecretKey() {
  sodium_memzero(bytes_.data(), bytes_.size());
}
SecretKey::SecretKey(const SecretKey& other) : bytes_(other.bytes_) {}
SecretKey& SecretKey::operator=(const SecretKey& other) {
  bytes_ = other.bytes_;
  return *this;
}

SecretKey SecretKey::random() {
  ensure_sodium();
  SecretKey key;
  randombytes_buf(key.bytes_.data(), key.bytes_.size());
  return key;
}

Result<SecretKey> SecretKey::from_hex(std::string_view hex) {
  ensure_sodium();
  while (!hex.empty() && std::isspace(static_cast<unsigned char>(hex.back()))) hex.remove_suffix(1);
  while (!hex.empty() && std::isspace(static_cast<unsigned char>(hex.front())))
    hex.remove_prefix(1);
  SecretKey key;
  size_t length = 0;
  if (hex.size() != 2 * kKeyBytes ||
      sodium_hex2bin(key.bytes_.data(), key.bytes_.size(), hex.data(), hex.size(), nullptr, &length,
                     nullptr) != 0 ||
      length != kKeyBytes)
    return make_error(Errc::invalid_argument, "a key must be 64 hex digits (32 bytes)");
  return key;
}

Result<SecretKey> SecretKey::from_file(const std::string& path) {
  auto text = read_owner_only(path, "key file");
  if (!text) return text.error();
  auto key = from_hex(*text);
  if (!key)
    return make_error(Errc::invalid_argument, "key file " + path + ": " + key.error().message);
  return key;
}

Result<SecretKey> SecretKey::load_master(const std::string& path, bool create_if_missing) {
  if (const char* env = std::getenv("COACH_MASTER_KEY"); env && *env) {
    auto key = from_hex(env);
    if (!key) return make_error(Errc::invalid_argument, "COACH_MASTER_KEY: " + key.error().message);
    return key;
  }
  auto key = from_file(path);
  if (key || key.error().code != Errc::not_found || !create_if_missing) return key;
  auto fresh = random();
  auto old_mask = umask(077);
  std::ofstream out(path);
  out << fresh.to_hex() << "\n";
  out.close();
  umask(old_mask);
  if (!out) return make_error(Errc::io_error, "cannot write a new master key to " + path);
  return fresh;
}

std::string SecretKey::to_hex() const {
  ensure_sodium();
  std::string hex(2 * kKeyBytes + 1, '\0');
  sodium_bin2hex(hex.data(), hex.size(), bytes_.data(), bytes_.size());
  hex.pop_back();
  return hex;
}

bool SecretKey::empty() const {
  return sodium_is_zero(bytes_.data(), bytes_.size());
}

std::string seal_bytes(const SecretKey& key, std::string_view plain, std::string_view context) {
  ensure_sodium();
  std::string out(kNonceBytes + plain.size() + kTagBytes, '\0');
  auto* nonce = reinterpret_cast<unsigned char*>(out.data());
  randombytes_buf(nonce, kNonceBytes);
  unsigned long long written = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(nonce + kNonceBytes, &written, bytes(plain),
                                             plain.size(), bytes(context), context.size(), nullptr,
                                             nonce, key.data());
  return out;
}

bool open_bytes(const SecretKey& key, std::string_view sealed, std::string_view context,
                std::string& plain) {
  ensure_sodium();
  if (sealed.size() < kNonceBytes + kTagBytes) return false;
  plain.resize(sealed.size() - kNonceBytes - kTagBytes);
  unsigned long long length = 0;
  auto* nonce = bytes(sealed);
  return crypto_aead_xchacha20poly1305_ietf_decrypt(
             reinterpret_cast<unsigned char*>(plain.data()), &length, nullptr, nonce + kNonceBytes,
             sealed.size() - kNonceBytes, bytes(context), context.size(), nonce, key.data()) == 0;
}

std::string wrap_data_key(const SecretKey& master, const SecretKey& data_key, const Uuid& user) {
  std::string context = "coach.data-key:" + user.to_string();
  return seal_bytes(master, {reinterpret_cast<const char*>(data_key.data()), kKeyBytes}, context);
}

Result<SecretKey> unwrap_data_key(const SecretKey& master, std::string_view wrapped,
                                  const Uuid& user) {
  std::string plain;
  if (!open_bytes(master, wrapped, "coach.data-key:" + user.to_string(), plain) ||
      plain.size() != kKeyBytes)
    return make_error(Errc::corrupted, "the data key of user " + user.to_string() +
                                           " does not open with this master key");
  std::string hex(2 * kKeyBytes + 1, '\0');
  sodium_bin2hex(hex.data(), hex.size(), bytes(plain), plain.size());
  sodium_memzero(plain.data(), plain.size());
  hex.pop_back();
  auto key = SecretKey::from_hex(hex);
  sodium_memzero(hex.data(), hex.size());
  return key;
}

namespace {
std::string hex(const unsigned char* data, size_t size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(size * 2);
  for (size_t i = 0; i < size; ++i) {
    out += kDigits[data[i] >> 4];
    out += kDigits[data[i] & 0xf];
  }
  return out;
}
}  // namespace

std::string random_secret() {
  ensure_sodium();
  unsigned char bytes[32];
  randombytes_buf(bytes, sizeof bytes);
  return hex(bytes, sizeof bytes);
}

std::string secret_digest(std::string_view secret) {
  ensure_sodium();
  unsigned char out[32];
  crypto_generichash(out, sizeof out, reinterpret_cast<const unsigned char*>(secret.data()),
                     secret.size(), nullptr, 0);
  return hex(out, sizeof out);
}

bool same_digest(std::string_view a, std::string_view b) {
  return a.size() == b.size() && !a.empty() && sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string keyed_hash(const SecretKey& key, std::string_view text) {
  ensure_sodium();
  std::string out(16, '\0');
  crypto_generichash(reinterpret_cast<unsigned char*>(out.data()), out.size(), bytes(text),
                     text.size(), key.data(), kKeyBytes);
  return out;
}

}  // namespace coach::events
