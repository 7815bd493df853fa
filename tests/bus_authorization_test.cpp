// The bus has owners: a real nats-server in operator mode with coach's bus
// authority, coachd serving on it, and an attacker holding what an ordinary
// API client is given (a client identity and a token for their own user).
// Every refusal is nats-server's own, seen as a permissions violation.
#include <doctest/doctest.h>
#include <nats/nats.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "tests/processes.h"
#include "tests/support.h"
#include "wire/bus_identity.h"
#include "wire/nats_connect.h"

using namespace coach;
using namespace std::chrono_literals;
using actors::BusRole;

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The reply-inbox prefix of the identity in a credentials file.
std::string inbox_of(const std::string& creds_path) {
  auto key = actors::credentials_public_key(slurp(creds_path));
  REQUIRE_MESSAGE(key.has_value(), test::error_of(key));
  return actors::inbox_prefix_of(*key);
}

// A raw connection with one identity that counts what it receives and
// remembers what nats-server refused.
class Probe {
 public:
  Probe(const std::string& url, const std::string& creds_path) {
    natsOptions* options = nullptr;
    natsOptions_Create(&options);
    natsOptions_SetURL(options, url.c_str());
    natsOptions_SetSendAsap(options, true);
    natsOptions_SetErrorHandler(options, &Probe::on_error, this);
    natsOptions_SetUserCredentialsFromFiles(options, creds_path.c_str(), nullptr);
    natsOptions_SetCustomInboxPrefix(options, inbox_of(creds_path).c_str());
    status_ = natsConnection_Connect(&nc_, options);
    for (int retry = 0; retry < 4 && status_ == NATS_CONNECTION_AUTH_FAILED; ++retry)
      status_ = natsConnection_Connect(&nc_, options);  // nats.c#705, see nats_connect.cpp
    natsOptions_Destroy(options);
  }
  ~Probe() {
    for (auto* sub : subs_) natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc_);
  }
  bool connected() const { return status_ == NATS_OK; }

  // Subscribes to `subject` (in `queue` when given); what arrives is counted.
  void subscribe(const std::string& subject, const std::string& queue = {}) {
    natsSubscription* sub = nullptr;
    if (queue.empty())
      natsConnection_Subscribe(&sub, nc_, subject.c_str(), &Probe::on_message, this);
    else
      natsConnection_QueueSubscribe(&sub, nc_, subject.c_str(), queue.c_str(), &Probe::on_message,
                                    this);
    if (sub) subs_.push_back(sub);
  }
  void publish(const std::string& subject, const std::string& body) {
    natsConnection_PublishString(nc_, subject.c_str(), body.c_str());
  }
  // The answer to a request, or "" when none came in time.
  std::string request(const std::string& subject, const std::string& body = "") {
    natsMsg* reply = nullptr;
    if (natsConnection_RequestString(&reply, nc_, subject.c_str(), body.c_str(), 2000) != NATS_OK)
      return {};
    std::string text(natsMsg_GetData(reply), static_cast<size_t>(natsMsg_GetDataLength(reply)));
    natsMsg_Destroy(reply);
    return text;
  }
  // Waits until the server has answered everything sent so far, then says
  // whether it refused something since the last call, and what.
  std::string refusal() {
    natsConnection_Flush(nc_);
    for (int i = 0; i < 100 && refused_ == seen_; ++i) std::this_thread::sleep_for(10ms);
    if (refused_ == seen_) return {};
    seen_ = refused_.load();
    const char* text = nullptr;
    natsConnection_GetLastError(nc_, &text);
    return text ? text : "refused";
  }
  int received() const { return received_; }

 private:
  static void on_message(natsConnection*, natsSubscription*, natsMsg* msg, void* self) {
    ++static_cast<Probe*>(self)->received_;
    natsMsg_Destroy(msg);
  }
  static void on_error(natsConnection*, natsSubscription*, natsStatus s, void* self) {
    if (s == NATS_NOT_PERMITTED) ++static_cast<Probe*>(self)->refused_;
  }

  natsConnection* nc_ = nullptr;
  natsStatus status_ = NATS_ERR;
  std::vector<natsSubscription*> subs_;
  std::atomic<int> received_{0}, refused_{0};
  int seen_ = 0;
};

bool refused(const std::string& refusal, const std::string& subject) {
  return refusal.find("Permissions Violation") != std::string::npos &&
         refusal.find(subject) != std::string::npos;
}

struct Node {
  test::TempDir dir;
  test::NatsServer nats{dir.str()};
  test::Coachd coachd{dir.str() + "/data", nats.url()};
  test::Client alice{nats.url(), dir.str() + "/token.key"};
  std::string alice_id = new_uuid_string();
  Node() {
    auto reply = alice.request("user.register", R"({"email": "alice@example.com"})", alice_id);
    REQUIRE_MESSAGE(reply.has_value(), test::error_of(reply));
    REQUIRE(!reply->has_error());
  }
  // Twenty of alice's commands; how many coachd answered as coachd.
  int alice_works() {
    int answered = 0;
    for (int i = 0; i < 20; ++i) {
      auto reply = alice.request("task.create", R"({"title": "mine"})", alice_id);
      answered += reply && !reply->has_error() && reply->task().title() == "mine";
    }
    return answered;
  }
};

}  // namespace

TEST_CASE("without an identity issued by coach's bus authority nobody connects") {
  Node n;
  actors::NatsConfig anonymous;
  anonymous.url = n.nats.url();
  anonymous.plaintext = true;
  auto refused_connection = actors::connect_nats(anonymous);
  CHECK_FALSE(refused_connection.has_value());
  if (!refused_connection)
    CHECK(refused_connection.error().message.find("Authorization") != std::string::npos);

  // An identity from another authority (a stranger's coach) is refused too.
  test::TempDir other;
  test::NatsServer foreign(other.str());
  Probe stranger(n.nats.url(), foreign.creds(BusRole::coachd));
  CHECK_FALSE(stranger.connected());

  // An expired identity is refused.
  Probe expired(n.nats.url(), n.nats.creds(BusRole::client, {}, std::chrono::seconds(-60)));
  CHECK_FALSE(expired.connected());
}

TEST_CASE("an API client cannot read others' commands, replies or notifications") {
  Node n;
  Probe attacker(n.nats.url(), n.nats.creds(BusRole::client));
  REQUIRE(attacker.connected());
  for (std::string subject :
       std::vector<std::string>{"coach.v1.>", "_INBOX.>", "_INBOX_*.>", "coach.notify.>",
                                "coach.dead.>", "coach.live.>", "coach.live." + n.alice_id, ">"}) {
    CAPTURE(subject);
    attacker.subscribe(subject);
    CHECK(refused(attacker.refusal(), subject));
  }
  // Another client's own inbox, named exactly.
  auto bob_creds = n.nats.creds(BusRole::client);
  Probe bob(n.nats.url(), bob_creds);
  REQUIRE(bob.connected());
  auto bob_inbox = inbox_of(bob_creds) + ".>";
  attacker.subscribe(bob_inbox);
  CHECK(refused(attacker.refusal(), bob_inbox));
  // Its own inbox is allowed: the refusals above are about whose it is.
  Probe self_check(n.nats.url(), bob_creds);
  self_check.subscribe(bob_inbox);
  CHECK(self_check.refusal().empty());

  CHECK(n.alice_works() == 20);
  CHECK(bob.request("coach.v1.user.profile").find("unauthenticated") != std::string::npos);
  CHECK(attacker.received() == 0);
}

TEST_CASE("an API client cannot serve coach's commands: no queue join, no forged replies") {
  Node n;
  Probe attacker(n.nats.url(), n.nats.creds(BusRole::client));
  REQUIRE(attacker.connected());
  attacker.subscribe("coach.v1.>", "coachd");
  CHECK(refused(attacker.refusal(), "coach.v1.>"));
  attacker.subscribe("coach.v1.task.create", "coachd");
  CHECK(refused(attacker.refusal(), "coach.v1.task.create"));
  CHECK(n.alice_works() == 20);  // every one answered by coachd
  CHECK(attacker.received() == 0);
  // Nor publish to subjects coachd answers on or notifies through.
  attacker.publish("coach.notify.push", R"({"notification": {}})");
  CHECK(refused(attacker.refusal(), "coach.notify.push"));
}

TEST_CASE("only coachd may use the JetStream API") {
  Node n;
  Probe attacker(n.nats.url(), n.nats.creds(BusRole::client));
  REQUIRE(attacker.connected());
  for (std::string subject : {"$JS.API.STREAM.INFO.COACH_NOTIFY", "$JS.API.STREAM.PURGE.COACH_DEAD",
                              "$JS.API.STREAM.DELETE.COACH_NOTIFY", "$JS.API.INFO"}) {
    CAPTURE(subject);
    CHECK(attacker.request(subject).empty());
    CHECK(refused(attacker.refusal(), subject));
  }
  // The same API answers a coachd identity, and the streams are untouched.
  Probe coachd(n.nats.url(), n.nats.creds(BusRole::coachd));
  REQUIRE(coachd.connected());
  auto info = coachd.request("$JS.API.STREAM.INFO.COACH_DEAD");
  CHECK(info.find("\"name\":\"COACH_DEAD\"") != std::string::npos);
  CHECK(coachd.refusal().empty());
}

TEST_CASE("coach-gateway's identity hears live feeds and sends commands, nothing more") {
  Node n;
  Probe gateway(n.nats.url(), n.nats.creds(BusRole::gateway));
  REQUIRE(gateway.connected());
  gateway.subscribe("coach.live.>");
  CHECK(gateway.refusal().empty());
  CHECK(gateway.request("coach.v1.user.get").find("unauthenticated") != std::string::npos);
  for (std::string subject : {"coach.v1.>", "coach.notify.>", "coach.dead.>", "_INBOX.>"}) {
    CAPTURE(subject);
    gateway.subscribe(subject);
    CHECK(refused(gateway.refusal(), subject));
  }
  // It may not feed a live feed itself: only coachd publishes there.
  gateway.publish("coach.live." + n.alice_id, "forged");
  CHECK(refused(gateway.refusal(), "coach.live." + n.alice_id));
  CHECK(n.alice_works() == 20);
}

TEST_CASE("a delivery gateway pulls its own channel and reports, nothing else") {
  Node n;
  Probe push(n.nats.url(), n.nats.creds(BusRole::deliver, "push"));
  REQUIRE(push.connected());
  CHECK(push.request("$JS.API.CONSUMER.INFO.COACH_NOTIFY.deliver-push").find("deliver-push") !=
        std::string::npos);
  for (std::string subject : {"$JS.API.CONSUMER.MSG.NEXT.COACH_NOTIFY.deliver-email",
                              "$JS.API.CONSUMER.INFO.COACH_NOTIFY.deliver-sms",
                              "$JS.API.STREAM.INFO.COACH_NOTIFY", "coach.v1.task.list"}) {
    CAPTURE(subject);
    push.publish(subject, "{}");
    CHECK(refused(push.refusal(), subject));
  }
  push.subscribe("coach.notify.>");
  CHECK(refused(push.refusal(), "coach.notify.>"));
  // A deliver identity needs a real channel.
  auto authority = actors::open_bus_authority(n.nats.bus_dir(), false);
  REQUIRE(authority.has_value());
  CHECK_FALSE(actors::issue_bus_credentials(
                  *authority, {BusRole::deliver, "fax", std::chrono::seconds(0), "fax"})
                  .has_value());
}

// nats.c 3.4 drops one signature in 256 (nats-io/nats.c#705): without the
// retry in wire/nats_connect.cpp, some of these 240 connects are refused.
TEST_CASE("many API clients connect at once, each with an identity of its own") {
  test::TempDir dir;
  test::NatsServer nats(dir.str());
  std::atomic<int> failed{0};
  for (int round = 0; round < 40; ++round) {
    std::vector<std::thread> clients;
    for (int t = 0; t < 6; ++t)
      clients.emplace_back([&] {
        actors::NatsConfig config;
        config.url = nats.url();
        config.plaintext = true;
        config.creds_file = test::creds_for(nats.url(), BusRole::client);
        auto connected = actors::connect_nats(config);
        if (!connected) {
          std::fprintf(stderr, "%s\n", connected.error().message.c_str());
          ++failed;
          return;
        }
        natsConnection_Destroy(*connected);
      });
    for (auto& c : clients) c.join();
  }
  CHECK(failed == 0);
}

TEST_CASE("nkey seeds decode to their keys, anything else is a clear error") {
  for (auto kind :
       {actors::NkeyKind::operator_key, actors::NkeyKind::account, actors::NkeyKind::user}) {
    auto key = actors::make_nkey(kind);
    CHECK(key.seed.size() == 58);
    CHECK(key.public_key.size() == 56);
    CHECK(key.public_key[0] == static_cast<char>(kind));
    CHECK(key.seed.substr(0, 2) == std::string("S") + static_cast<char>(kind));
    auto again = actors::nkey_from_seed(key.seed);
    REQUIRE(again.has_value());
    CHECK(again->public_key == key.public_key);
  }
  auto seed = actors::make_nkey(actors::NkeyKind::user).seed;
  auto flipped = seed;
  flipped[20] = flipped[20] == 'A' ? 'B' : 'A';  // the checksum catches it
  for (std::string bad : {std::string(), seed.substr(0, 57), flipped, "S" + std::string(57, '1'),
                          actors::make_nkey(actors::NkeyKind::user).public_key + "AB"}) {
    CAPTURE(bad);
    auto refused = actors::nkey_from_seed(bad);
    REQUIRE_FALSE(refused.has_value());
    CHECK(refused.error().code == Errc::invalid_argument);
  }
  CHECK_FALSE(actors::credentials_public_key("not a creds file").has_value());
  CHECK_FALSE(actors::bus_role_of("root").has_value());
}

TEST_CASE("the bus authority refuses key files others may read") {
  test::TempDir dir;
  auto path = dir.str() + "/bus";
  REQUIRE(actors::open_bus_authority(path, /*create=*/true).has_value());
  auto again = actors::open_bus_authority(path, /*create=*/true);  // keys kept
  REQUIRE(again.has_value());
  CHECK(again->account.public_key == actors::open_bus_authority(path, false)->account.public_key);
  std::filesystem::permissions(path + "/account.nk", std::filesystem::perms::group_read,
                               std::filesystem::perm_options::add);
  auto refused = actors::open_bus_authority(path, false);
  REQUIRE_FALSE(refused.has_value());
  CHECK(refused.error().code == Errc::permission_denied);
  CHECK(refused.error().message.find("chmod 600") != std::string::npos);
}
