// A whole coach node for end-to-end tests: nats-server (JetStream) and
// coachd as processes in a fresh temp dir, a NATS client that signs user
// tokens with the node's key, and helpers for admin tokens and commands that
// must succeed. Header-only: it fails the test case with doctest's macros.
#pragma once

#include <doctest/doctest.h>

#include <optional>
#include <string>
#include <vector>

#include "schema/internal.pb.h"
#include "tests/processes.h"
#include "tests/support.h"
#include "wire/auth.h"

namespace coach::test {

struct CoachNode {
  TempDir dir;
  NatsServer nats{dir.str()};
  std::string data = dir.str() + "/data";
  std::optional<Coachd> coachd;
  std::optional<Client> client;
  Uuid admin = Uuid::random();

  explicit CoachNode(const std::vector<std::string>& args = {}) {
    coachd.emplace(data, nats.url(), args);
    client.emplace(nats.url(), token_key());
  }
  std::string token_key() const { return dir.str() + "/token.key"; }
  std::string token(v1::Role role, const Uuid& user) const {
    return actors::TokenSigner::load(token_key(), false)->issue(user, role, std::chrono::hours(1));
  }
  std::string admin_token() const { return token(v1::ROLE_ADMIN, admin); }
#ifdef COACH_COACHCTL
  // coachctl as a process on this node (plaintext, a client's bus identity)
  // with `bearer` in a token file of mode 0600. It sees no config file and
  // none of coachctl's variables but those `env` sets (run_tool's form).
  ToolRun coachctl(std::vector<std::string> args, const std::string& bearer,
                   const std::vector<std::string>& env = {}) {
    std::vector<std::string> all = {"--plaintext",
                                    "--nats-url",
                                    nats.url(),
                                    "--nats-creds",
                                    nats.creds(actors::BusRole::client),
                                    "--token-file",
                                    write_secret(dir, "coachctl.token", bearer)};
    all.insert(all.end(), args.begin(), args.end());
    return run_tool(COACH_COACHCTL, all, dir.str() + "/coachctl", std::chrono::seconds(120),
                    coachctl_env(env));
  }
  // A clean environment for coachctl: no config file, none of its variables,
  // then `env`.
  std::vector<std::string> coachctl_env(const std::vector<std::string>& env) const {
    std::vector<std::string> all = {"XDG_CONFIG_HOME=" + dir.str() + "/no-config",
                                    "COACH_CONFIG",
                                    "COACH_NATS_URL",
                                    "COACH_TLS_DIR",
                                    "COACH_NATS_CREDS",
                                    "COACH_PLAINTEXT",
                                    "COACH_TOKEN",
                                    "COACH_TOKEN_FILE",
                                    "COACH_TOKEN_KEY",
                                    "COACH_USER",
                                    "COACH_NOW",
                                    "NO_COLOR"};
    all.insert(all.end(), env.begin(), env.end());
    return all;
  }
#endif
  // Sends a command that must succeed; its reply.
  v1::Reply ok(const std::string& op, const std::string& body, const std::string& user) {
    auto r = client->request(op, body, user);
    REQUIRE_MESSAGE(r, error_of(r));
    REQUIRE_MESSAGE(!r->has_error(),
                    op << ": " << r->error().code() << " " << r->error().message());
    return *r;
  }
};

}  // namespace coach::test
