#include "wire/bus_identity.h"

#include "base/private_file.h"

#include <sodium.h>
#include <sys/stat.h>

#include <array>
#include <cstring>
#include <ctime>
#include <fstream>
#include <optional>
#include <sstream>
#include <vector>

namespace coach::actors {
namespace {

using Bytes = std::vector<uint8_t>;

constexpr char kBase32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
constexpr uint8_t kSeedPrefix = 18 << 3;  // NATS encodes seeds "S..."

void ensure_sodium() {
  if (sodium_init() < 0) std::abort();
}

std::string base32(const Bytes& data) {  // RFC 4648, no padding
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  for (uint8_t byte : data) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += kBase32[(buffer >> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += kBase32[(buffer << (5 - bits)) & 31];
  return out;
}

std::optional<Bytes> unbase32(std::string_view text) {
  Bytes out;
  uint32_t buffer = 0;
  int bits = 0;
  for (char c : text) {
    const char* at = std::char_traits<char>::find(kBase32, 32, c);
    if (!at) return std::nullopt;
    buffer = (buffer << 5) | static_cast<uint32_t>(at - kBase32);
    bits += 5;
    if (bits >= 8) {
      out.push_back(static_cast<uint8_t>(buffer >> (bits - 8)));
      bits -= 8;
    }
  }
  return out;
}

std::string base64url(std::string_view data) {
  std::string out(sodium_base64_ENCODED_LEN(data.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING),
                  '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(data.data()),
                    data.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  out.resize(std::strlen(out.c_str()));
  return out;
}

uint16_t crc16(const Bytes& data) {  // CRC-16/XMODEM, as NATS's nkeys use
  uint16_t crc = 0;
  for (uint8_t byte : data) {
    crc ^= static_cast<uint16_t>(byte) << 8;
    for (int i = 0; i < 8; ++i)
      crc = (crc & 0x8000) ? static_cast<uint16_t>((crc << 1) ^ 0x1021)
                           : static_cast<uint16_t>(crc << 1);
  }
  return crc;
}

void append_crc(Bytes& raw) {
  uint16_t crc = crc16(raw);
  raw.push_back(static_cast<uint8_t>(crc & 0xff));
  raw.push_back(static_cast<uint8_t>(crc >> 8));
}

uint8_t prefix_byte(NkeyKind kind) {
  switch (kind) {
    case NkeyKind::operator_key:
      return 14 << 3;
    case NkeyKind::account:
      return 0;
    case NkeyKind::user:
      return 20 << 3;
  }
  return 0;
}

Nkey encode(NkeyKind kind, const std::array<uint8_t, 32>& seed) {
  std::array<uint8_t, crypto_sign_PUBLICKEYBYTES> public_key{};
  std::array<uint8_t, crypto_sign_SECRETKEYBYTES> secret_key{};
  crypto_sign_seed_keypair(public_key.data(), secret_key.data(), seed.data());
  sodium_memzero(secret_key.data(), secret_key.size());
  uint8_t prefix = prefix_byte(kind);
  Bytes raw_seed = {static_cast<uint8_t>(kSeedPrefix | (prefix >> 5)),
                    static_cast<uint8_t>((prefix & 31) << 3)};
  raw_seed.insert(raw_seed.end(), seed.begin(), seed.end());
  append_crc(raw_seed);
  Bytes raw_public = {prefix};
  raw_public.insert(raw_public.end(), public_key.begin(), public_key.end());
  append_crc(raw_public);
  Nkey key{base32(raw_seed), base32(raw_public)};
  sodium_memzero(raw_seed.data(), raw_seed.size());
  return key;
}

// The 32-byte Ed25519 seed inside an encoded NATS seed.
Result<std::array<uint8_t, 32>> raw_seed(std::string_view seed, NkeyKind* kind) {
  auto bad = make_error(Errc::invalid_argument, "not a NATS nkey seed (S..., 58 characters)");
  if (seed.size() != 58 || seed[0] != 'S') return bad;
  auto raw = unbase32(seed);
  if (!raw || raw->size() != 36) return bad;
  uint16_t crc = static_cast<uint16_t>((*raw)[34] | ((*raw)[35] << 8));
  raw->resize(34);
  if (crc16(*raw) != crc || ((*raw)[0] & 0xf8) != kSeedPrefix) return bad;
  uint8_t prefix = static_cast<uint8_t>((((*raw)[0] & 7) << 5) | ((*raw)[1] >> 3));
  bool known = false;
  for (auto k : {NkeyKind::operator_key, NkeyKind::account, NkeyKind::user})
    if (prefix_byte(k) == prefix) *kind = k, known = true;
  if (!known) return bad;
  std::array<uint8_t, 32> out{};
  std::copy(raw->begin() + 2, raw->end(), out.begin());
  sodium_memzero(raw->data(), raw->size());
  return out;
}

std::string sign(const Nkey& key, std::string_view data) {
  NkeyKind kind{};
  auto seed = raw_seed(key.seed, &kind);
  if (!seed) std::abort();  // every Nkey here was made or checked by this file
  std::array<uint8_t, crypto_sign_PUBLICKEYBYTES> public_key{};
  std::array<uint8_t, crypto_sign_SECRETKEYBYTES> secret_key{};
  crypto_sign_seed_keypair(public_key.data(), secret_key.data(), seed->data());
  std::array<uint8_t, crypto_sign_BYTES> signature{};
  crypto_sign_detached(signature.data(), nullptr, reinterpret_cast<const uint8_t*>(data.data()),
                       data.size(), secret_key.data());
  sodium_memzero(secret_key.data(), secret_key.size());
  return std::string(signature.begin(), signature.end());
}

std::string quoted(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string json_list(const std::vector<std::string>& items) {
  std::string out = "[";
  for (const auto& item : items) out += (out.size() > 1 ? "," : "") + quoted(item);
  return out + "]";
}

// A NATS JWT (v2): `nats` is the claim's "nats" object. The id is a hash of
// the claims, as nats-io/jwt makes it (the server does not check it).
std::string make_jwt(const Nkey& issuer, const std::string& subject, const std::string& name,
                     int64_t expires, const std::string& nats) {
  int64_t now = static_cast<int64_t>(std::time(nullptr));
  std::string fields = "\"iat\":" + std::to_string(now) + ",\"iss\":" + quoted(issuer.public_key) +
                       ",\"name\":" + quoted(name) + ",\"sub\":" + quoted(subject) +
                       (expires > 0 ? ",\"exp\":" + std::to_string(expires) : "") +
                       ",\"nats\":" + nats;
  std::array<uint8_t, crypto_hash_sha256_BYTES> hash{};
  crypto_hash_sha256(hash.data(), reinterpret_cast<const uint8_t*>(fields.data()), fields.size());
  std::string claims =
      "{\"jti\":" + quoted(base32(Bytes(hash.begin(), hash.end()))) + "," + fields + "}";
  std::string signed_part =
      base64url(R"({"typ":"JWT","alg":"ed25519-nkey"})") + "." + base64url(claims);
  return signed_part + "." + base64url(sign(issuer, signed_part));
}

constexpr const char* kUnlimited =
    R"("subs":-1,"data":-1,"payload":-1,"imports":-1,"exports":-1,"wildcards":true,"conn":-1,"leaf":-1)";

std::string account_jwt(const BusAuthority& a, const Nkey& account, const std::string& name,
                        bool jetstream) {
  std::string limits =
      std::string("{") + kUnlimited +
      (jetstream ? R"(,"mem_storage":-1,"disk_storage":-1,"streams":-1,"consumer":-1)" : "") + "}";
  return make_jwt(a.operator_key, account.public_key, name, 0,
                  R"({"limits":)" + limits + R"(,"type":"account","version":2})");
}

struct Subjects {
  std::vector<std::string> pub, sub;
  bool responses = false;
};

Result<Subjects> subjects_for(const BusGrant& grant, const std::string& inbox) {
  Subjects s;
  s.sub.push_back(inbox + ".>");
  switch (grant.role) {
    case BusRole::coachd:
      // $KV.COACH_NODES and COACH_LEASE: the node lease
      // (adapters/node_lease.h); coach.log and $KV.COACH_KEYS: the
      // replicated log and its data keys (adapters/jetstream_log.h);
      // coach.log.> the partitions' logs and coach.node.> requests one node
      // forwards to the owner of a user's partition (gateway/nats_gateway.h).
      s.pub = {"$JS.API.>",    "$KV.COACH_NODES.>", "$KV.COACH_LEASE.>", "$KV.COACH_KEYS.>",
               "coach.log",    "coach.log.>",       "coach.node.>",      "coach.notify.>",
               "coach.dead.>", "coach.live.>",      inbox + ".>"};
      s.sub.insert(s.sub.end(), {"coach.v1.>", "coach.node.>",
                                 "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.COACH_NOTIFY.*"});
      s.responses = true;
      return s;
    case BusRole::client:
      s.pub = {"coach.v1.>"};
      return s;
    case BusRole::gateway:
      s.pub = {"coach.v1.>"};
      s.sub.push_back("coach.live.>");
      return s;
    case BusRole::deliver: {
      if (grant.channel != "push" && grant.channel != "email" && grant.channel != "sms")
        return make_error(Errc::invalid_argument,
                          "a deliver identity needs --channel push, email or sms");
      // The stream and consumer coachd makes (adapters/notifier.h).
      std::string consumer = "COACH_NOTIFY.deliver-" + grant.channel;
      s.pub = {"$JS.API.CONSUMER.INFO." + consumer, "$JS.API.CONSUMER.MSG.NEXT." + consumer,
               "$JS.ACK." + consumer + ".>", "coach.v1.admin.notification.report"};
      return s;
    }
  }
  return make_error(Errc::invalid_argument, "unknown bus role");
}

std::string read_trimmed(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  std::string s = text.str();
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  return s;
}

Status write_private(const std::string& path, const std::string& text) {
  auto old_mask = umask(077);
  std::ofstream out(path, std::ios::trunc);
  out << text;
  out.close();
  umask(old_mask);
  ::chmod(path.c_str(), 0600);
  if (!out) return make_error(Errc::io_error, "cannot write " + path);
  return Ok{};
}

Result<Nkey> load_or_make(const std::string& path, NkeyKind kind, bool create) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) {
    if (!create) return make_error(Errc::not_found, "no bus key at " + path);
    Nkey key = make_nkey(kind);
    if (auto written = write_private(path, key.seed + "\n"); !written) return written.error();
    return key;
  }
  if (auto ok = coach::check_owner_only(path, "bus key"); !ok) return ok.error();
  auto key = nkey_from_seed(read_trimmed(path));
  if (!key) return make_error(Errc::invalid_argument, path + ": " + key.error().message);
  if (key->public_key[0] != static_cast<char>(kind))
    return make_error(Errc::invalid_argument, path + " holds a key of the wrong kind");
  return key;
}

}  // namespace

Nkey make_nkey(NkeyKind kind) {
  ensure_sodium();
  std::array<uint8_t, 32> seed{};
  randombytes_buf(seed.data(), seed.size());
  Nkey key = encode(kind, seed);
  sodium_memzero(seed.data(), seed.size());
  return key;
}

Result<Nkey> nkey_from_seed(std::string_view seed) {
  ensure_sodium();
  NkeyKind kind{};
  auto raw = raw_seed(seed, &kind);
  if (!raw) return raw.error();
  Nkey key = encode(kind, *raw);
  sodium_memzero(raw->data(), raw->size());
  return key;
}

Result<BusRole> bus_role_of(std::string_view name) {
  if (name == "coachd") return BusRole::coachd;
  if (name == "client") return BusRole::client;
  if (name == "gateway") return BusRole::gateway;
  if (name == "deliver") return BusRole::deliver;
  return make_error(Errc::invalid_argument, "a bus role is coachd, client, gateway or deliver");
}

std::string inbox_prefix_of(std::string_view user_public_key) {
  return "_INBOX_" + std::string(user_public_key);
}

Result<BusAuthority> open_bus_authority(const std::string& dir, bool create) {
  if (create) {
    auto old_mask = umask(077);
    ::mkdir(dir.c_str(), 0700);
    umask(old_mask);
  }
  if (auto ok = coach::check_owner_only(dir, "bus authority directory"); !ok) return ok.error();
  BusAuthority a;
  auto op = load_or_make(dir + "/operator.nk", NkeyKind::operator_key, create);
  auto sys = load_or_make(dir + "/system.nk", NkeyKind::account, create);
  auto account = load_or_make(dir + "/account.nk", NkeyKind::account, create);
  for (auto* key : {&op, &sys, &account})
    if (!*key) return key->error();
  return BusAuthority{*op, *sys, *account};
}

Status write_server_config(const std::string& dir, const BusAuthority& a,
                           const std::string& store_dir) {
  std::string key_path = dir + "/jetstream.key";
  struct stat st {};
  if (stat(key_path.c_str(), &st) != 0) {
    std::array<uint8_t, 32> key{};
    randombytes_buf(key.data(), key.size());
    std::string hex(2 * key.size() + 1, '\0');
    sodium_bin2hex(hex.data(), hex.size(), key.data(), key.size());
    sodium_memzero(key.data(), key.size());
    if (auto ok = write_private(key_path, hex.c_str() + std::string("\n")); !ok) return ok;
  }
  if (auto ok = coach::check_owner_only(key_path, "JetStream key"); !ok) return ok;
  std::string operator_jwt =
      make_jwt(a.operator_key, a.operator_key.public_key, "coach", 0,
               R"({"system_account":)" + quoted(a.system_account.public_key) +
                   R"(,"type":"operator","version":2})");
  std::string conf =
      "# Made by coach (wire/bus_identity.h); holds secrets: owner only.\n"
      "operator: " +
      quoted(operator_jwt) + "\nsystem_account: " + quoted(a.system_account.public_key) +
      "\nresolver: MEMORY\nresolver_preload: {\n  " + quoted(a.system_account.public_key) + ": " +
      quoted(account_jwt(a, a.system_account, "SYS", false)) + "\n  " +
      quoted(a.account.public_key) + ": " + quoted(account_jwt(a, a.account, "COACH", true)) +
      "\n}\njetstream: {\n  store_dir: " + quoted(store_dir) +
      "\n  cipher: chachapoly\n  key: " + quoted(read_trimmed(key_path)) + "\n}\n";
  return write_private(dir + "/server.conf", conf);
}

Result<std::string> issue_bus_credentials(const BusAuthority& a, const BusGrant& grant) {
  Nkey user = make_nkey(NkeyKind::user);
  auto subjects = subjects_for(grant, inbox_prefix_of(user.public_key));
  if (!subjects) return subjects.error();
  std::string nats = R"({"pub":{"allow":)" + json_list(subjects->pub) + R"(},"sub":{"allow":)" +
                     json_list(subjects->sub) + "}";
  // A reply may come late (a slow request's own timeout), never twice.
  if (subjects->responses) nats += R"(,"resp":{"max":1,"ttl":300000000000})";
  nats += R"(,"subs":-1,"data":-1,"payload":-1,"type":"user","version":2})";
  int64_t expires =
      grant.ttl.count() != 0 ? static_cast<int64_t>(std::time(nullptr)) + grant.ttl.count() : 0;
  std::string name = grant.name.empty() ? "coach-client" : grant.name;
  std::string jwt = make_jwt(a.account, user.public_key, name, expires, nats);
  return "-----BEGIN NATS USER JWT-----\n" + jwt +
         "\n------END NATS USER JWT------\n\n"
         "************************* IMPORTANT *************************\n"
         "NKEY Seed printed below can be used to sign and prove identity.\n"
         "NKEYs are sensitive and should be treated as secrets.\n\n"
         "-----BEGIN USER NKEY SEED-----\n" +
         user.seed +
         "\n------END USER NKEY SEED------\n\n"
         "*************************************************************\n";
}

Result<std::string> credentials_public_key(std::string_view creds) {
  constexpr std::string_view kBegin = "-----BEGIN USER NKEY SEED-----";
  auto at = creds.find(kBegin);
  if (at == std::string_view::npos)
    return make_error(Errc::invalid_argument, "not a NATS credentials file (no user seed)");
  auto rest = creds.substr(at + kBegin.size());
  while (!rest.empty() && std::isspace(static_cast<unsigned char>(rest.front())))
    rest.remove_prefix(1);
  auto key = nkey_from_seed(rest.substr(0, 58));
  if (!key) return key.error();
  if (key->public_key[0] != 'U')
    return make_error(Errc::invalid_argument, "credentials hold a non-user seed");
  return key->public_key;
}

}  // namespace coach::actors
