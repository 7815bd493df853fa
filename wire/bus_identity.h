// Who may do what on the bus: NATS identities for coach's programs, enforced
// by nats-server itself.
//
// coach runs nats-server in operator mode (decentralized JWT auth): an
// operator key signs two accounts (coach's own, and the system account), and
// coach's account key signs one user JWT per program instance, each listing
// exactly the subjects it may publish and subscribe to. nats-server checks
// every SUB and PUB against them; nothing here is a convention.
//
// Why JWTs, not users in nats-server's config: identities are issued without
// touching or reloading the server (a new API client gets its own identity,
// a delivery gateway gets one that expires in hours), and each API client
// receives replies only on its own inbox prefix "_INBOX_<its public key>",
// which no other identity may subscribe to. A shared client certificate or
// a shared user could never keep two clients apart.
//
// The authority directory (mode 0700) holds, each mode 0600:
//   operator.nk, system.nk, account.nk   the three NKEY seeds
//   jetstream.key                        JetStream's at-rest encryption key
//   server.conf                          nats-server's config (include it)
// Whoever holds account.nk can mint any identity: it is as secret as
// coachd's token key.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "base/result.h"

namespace coach::actors {

// An Ed25519 NATS key pair ("nkey"), in NATS's own encoding: the seed
// "S<kind>..." (58 characters) and the public key "<kind>..." (56), where
// kind is O (operator), A (account) or U (user).
struct Nkey {
  std::string seed;
  std::string public_key;
};

enum class NkeyKind : char { operator_key = 'O', account = 'A', user = 'U' };

// A fresh random key of `kind`.
Nkey make_nkey(NkeyKind kind);
// The key a seed encodes; invalid_argument for anything but a valid seed
// (wrong length, alphabet, checksum or kind).
Result<Nkey> nkey_from_seed(std::string_view seed);

// The roles on the bus. What each may do (subjects as nats-server sees them):
//   coachd   subscribe coach.v1.> (alone, queue group "coachd"), answer the
//            requests it receives, use the JetStream API, publish
//            notifications and dead letters
//   client   publish coach.v1.>; receive replies on its own inbox only
//   gateway  a client that also subscribes coach.live.> (every user's live
//            feed: coach-gateway streams each caller's own, after coach
//            verified the caller's token)
//   deliver  pull and acknowledge its channel's notifications from
//            COACH_NOTIFY (consumer deliver-<channel>) and publish the
//            delivery report coach.v1.admin.notification.report; nothing else
enum class BusRole { coachd, client, gateway, deliver };

// Parses "coachd", "client", "gateway" or "deliver"; invalid_argument
// naming the four.
Result<BusRole> bus_role_of(std::string_view name);

struct BusGrant {
  BusRole role = BusRole::client;
  std::string channel;  // deliver only: push, email or sms
  // How long the identity is valid; zero: until the authority is replaced
  // (negative: already expired, for drills).
  std::chrono::seconds ttl{0};
  std::string name;  // shown in nats-server's logs and monitoring
};

// The reply-inbox prefix a connection with credentials for `public_key`
// must use ("_INBOX_<public key>"); its grant allows no other inbox.
std::string inbox_prefix_of(std::string_view user_public_key);

// The three keys that make up the authority.
struct BusAuthority {
  Nkey operator_key, system_account, account;
};

// Opens the authority in `dir`; with create, makes it first where missing
// (keys and JetStream key kept when present: safe to run again). Files with
// secrets must be mode 0600 and the directory 0700, or it is refused.
Result<BusAuthority> open_bus_authority(const std::string& dir, bool create);

// Writes <dir>/server.conf (0600): trusted operator, accounts preloaded in a
// memory resolver, and JetStream in `store_dir` encrypted at rest with
// <dir>/jetstream.key (ChaCha20-Poly1305). Run nats-server with -c on it.
Status write_server_config(const std::string& dir, const BusAuthority& authority,
                           const std::string& store_dir);

// A NATS credentials file (user JWT and seed, the format nats.c and the nats
// CLI read) for a new identity holding `grant`; invalid_argument for a
// deliver grant without a known channel.
Result<std::string> issue_bus_credentials(const BusAuthority& authority, const BusGrant& grant);

// The user public key in a credentials file's seed; invalid_argument if the
// text is not a credentials file.
Result<std::string> credentials_public_key(std::string_view creds);

}  // namespace coach::actors
