// Real processes for integration tests: nats-server on a free loopback port,
// coachd as a child process, and a NATS client speaking coach's API.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "adapters/jetstream_log.h"
#include "base/result.h"
#include "schema/commands.pb.h"
#include "wire/api_codec.h"
#include "wire/auth.h"
#include "wire/bus_identity.h"

typedef struct __natsConnection natsConnection;

namespace coach::test {

// A loopback TCP port nobody listens on right now.
int free_port();

// A child process; killed (SIGKILL) on destruction if still running.
class Process {
 public:
  Process(const std::string& program, const std::vector<std::string>& args,
          const std::string& log_path);
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  // Waits until the log holds `text`; false after `timeout` or if the
  // process exits first.
  bool wait_for_log(const std::string& text, std::chrono::milliseconds timeout);
  std::string log() const;
  void signal(int sig);
  // SIGSTOP, then waits (at most 5 s) until the kernel shows it stopped:
  // kill() returns before a process running on another core has stopped,
  // and a test that sends it work next must not race that.
  void stop();
  int wait();  // the exit status as waitpid gives it
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  std::string log_path_;
  bool reaped_ = false;
};

// nats-server on a free loopback port, as coach runs it: in operator mode
// with a bus authority of its own in <dir>/bus (wire/bus_identity.h), so
// every connection needs an identity it issued, and JetStream encrypted at
// rest in <dir>/jetstream. With tls, it also makes certificates in <dir>/tls
// (scripts/make-certs.sh) and requires TLS with client certificates.
class NatsServer {
 public:
  // `extra_config`: lines appended to the server's configuration file
  // (e.g. "max_payload: 65536\n").
  explicit NatsServer(const std::string& dir, bool tls = false,
                      const std::string& extra_config = "");
  ~NatsServer();
  std::string url() const {
    return (tls_ ? "tls://127.0.0.1:" : "nats://127.0.0.1:") + std::to_string(port_);
  }
  std::string tls_dir() const { return tls_dir_; }
  std::string bus_dir() const { return dir_ + "/bus"; }
  // A fresh identity holding `role` (deliver: for `channel`): the path of
  // its credentials file.
  std::string creds(actors::BusRole role, const std::string& channel = {},
                    std::chrono::seconds ttl = std::chrono::seconds(0)) const;
  Process& process() { return process_; }

 private:
  static std::vector<std::string> args(const std::string& dir, bool tls, int port,
                                       const std::string& extra_config);
  std::string dir_;
  bool tls_;
  std::string tls_dir_;
  int port_;
  Process process_;
};

// `size` nats-servers clustered on loopback (JetStream replicated by Raft
// across them), as coach runs a cluster: they share the first server's bus
// authority (so one identity works on every server), each has its own
// JetStream folder. Ready once the cluster has a JetStream meta leader.
class NatsCluster {
 public:
  explicit NatsCluster(const std::string& dir, int size = 3);
  ~NatsCluster();
  // Every server's client URL, comma-separated (as coachd's --nats-url and
  // creds_for take it).
  std::string url() const;
  NatsServer& server(size_t i) { return *servers_.at(i); }
  std::string creds(actors::BusRole role) const { return servers_.front()->creds(role); }

 private:
  std::vector<std::unique_ptr<NatsServer>> servers_;
};

// The value of the first `"key":"value"` in a JSON-lines log (a program's
// "ready" line names its addresses so); empty when there is none.
std::string log_value(const std::string& log, const std::string& key);

// A fresh identity for `role` from the NatsServer of this process serving
// `url`; empty if none does. Coachd and Client take theirs from it.
std::string creds_for(const std::string& url, actors::BusRole role,
                      const std::string& channel = {});

// Options of a replicated log (adapters/jetstream_log.h) on `url` as
// coachd's: plaintext, the coachd identity in `creds`, writing as `writer`.
actors::JetStreamLogOptions jetstream_log_options(const std::string& url, const std::string& creds,
                                                  const std::string& writer, int replicas = 1);

// What a finished program printed, and how it ended.
struct ToolRun {
  int exit_code = -1;  // -1: killed by a signal
  std::string out, err;
};
// Runs a program to its end, its stdout and stderr captured apart (in files
// named after `scratch`); one still running after `timeout` is killed
// (exit_code -1, and err says so). It inherits this process's environment
// changed by `env`: "NAME=value" sets a variable, "NAME" removes it.
ToolRun run_tool(const std::string& program, const std::vector<std::string>& args,
                 const std::string& scratch,
                 std::chrono::seconds timeout = std::chrono::seconds(120),
                 const std::vector<std::string>& env = {});

// Runs scripts/make-certs.sh into `dir`.
void make_certs(const std::string& dir);

// coachd on a data dir, serving on a NATS URL; started and ready.
class Coachd {
 public:
  // Started once its log says `ready_text` (within 20 s); empty: at once
  // (a standby that waits for the lease).
  Coachd(const std::string& data_dir, const std::string& nats_url,
         std::vector<std::string> extra_args = {},
         const std::string& ready_text = "\"msg\":\"ready\"");
  Process& process() { return process_; }
  // Where its ops endpoints listen, e.g. "http://127.0.0.1:40123".
  std::string ops_url() const;

 private:
  Process process_;
};

// A NATS connection that sends coach requests, each with a bearer token for
// its user signed with the node's token key file (when one is given). Each
// Client is an API client of its own on the bus (creds_for).
class Client {
 public:
  // tls_dir: ca.pem, client.pem, client.key for a tls:// URL.
  explicit Client(const std::string& url, const std::string& token_key_file = {},
                  const std::string& tls_dir = {});
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Sends `body` to coach.v1.<operation>; transport failures are
  // `unavailable` errors, coach's own errors arrive inside the Reply.
  Result<v1::Reply> request(const std::string& operation, const std::string& body,
                            const std::string& user, const std::string& key = {},
                            actors::Encoding encoding = actors::Encoding::json,
                            int timeout_ms = 5000);
  // The Authorization header value for a user token of `user` ("Bearer ...").
  std::string authorization(const std::string& user) { return "Bearer " + token_for(user); }
  // The same with raw control of subject and headers, for bad-input tests.
  Result<v1::Reply> raw(const std::string& subject, const std::string& body,
                        const std::vector<std::pair<std::string, std::string>>& headers,
                        int timeout_ms = 5000);
  // Publishes `count` copies of a request without waiting for replies (they
  // go to an inbox nobody reads), then flushes: a flood.
  Status flood(const std::string& subject, const std::string& body,
               const std::vector<std::pair<std::string, std::string>>& headers, int count);

 private:
  std::string token_for(const std::string& user);

  natsConnection* connection_ = nullptr;
  std::optional<actors::TokenSigner> signer_;
  std::map<std::string, std::string> tokens_;
};

}  // namespace coach::test
