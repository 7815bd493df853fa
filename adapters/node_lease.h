// NodeLease: which coachd serves the users reachable over one NATS system,
// held in NATS itself so that two coachd never serve the same users with
// two logs (issue 18, step one: one owner for the whole key space).
//
// The owner is the value of key "owner" in JetStream's key-value bucket
// COACH_NODES: {"node": <node id>, "renewed_at": <RFC 3339>}. A node's id
// lives in its data dir (node.id, made on the first start), so the same
// node restarting after a crash is still itself. On start a node
//   - takes the key when it is absent (compare-and-set on "no key"),
//   - takes it back when it names this node (a restart),
//   - refuses with `conflict` when it names another node: that node's
//     RocksDB holds the users' logs, and until they are replicated through
//     JetStream (issue 18's next steps) no other node may serve them, even
//     after the owner died: serving them from another store would fork
//     every log. An operator who moved the data dir keeps its node.id.
// With a replicated log (NodeLeaseOptions::ttl set; issue 18, step two) the
// lease expires instead: it lives in bucket COACH_LEASE, whose entries
// JetStream removes `ttl` after their last write. Then another node may take
// it once the owner stopped renewing, because the users' logs are in the
// replicated log (adapters/jetstream_log.h), not only in the owner's store;
// a standby (`wait`) polls until it is free. An owner that has not renewed
// within ttl - renew_every of its last renewal (a node paused, then
// resumed) no longer counts as holding it: may_write() is false.
// While running, the lease is renewed every `renew_every` by compare-and-
// set on the key's revision. When the key was changed by anyone else the
// lease is lost: `on_lost` is called once (coachd stops serving and exits
// non-zero). A renewal that fails because NATS is unreachable is retried:
// nobody else may take the key meanwhile, so serving goes on.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "base/result.h"
#include "wire/nats_connect.h"

typedef struct __jsCtx jsCtx;
typedef struct __kvStore kvStore;

namespace coach::actors {

inline constexpr const char* kNodesBucket = "COACH_NODES";
inline constexpr const char* kOwnerKey = "owner";
inline constexpr const char* kLeaseBucket = "COACH_LEASE";  // with a ttl

// The node id kept in <data_dir>/node.id: read, or made (a fresh UUID,
// mode 0600) on the first start. io_error when the file cannot be made;
// invalid_argument when it holds something other than a UUID.
Result<std::string> load_node_id(const std::string& data_dir);

// What a lease key holds: {"node": <node id>, "renewed_at": <RFC 3339>}.
std::string lease_value(const std::string& node_id);
// The node a lease value names; empty if none.
std::string lease_owner(std::string_view value);
// Binds key-value bucket `bucket`, making it (with `replicas` and, unless
// 0, entries expiring `ttl` after their last write) when absent. With a
// ttl, an existing bucket must expire entries after exactly `ttl`
// (invalid_argument otherwise: every node must agree on when a lease
// lapses). unavailable without JetStream. The caller destroys the store.
Result<kvStore*> open_lease_bucket(jsCtx* js, const char* bucket, const char* description,
                                   int replicas, std::chrono::milliseconds ttl);

struct NodeLeaseOptions {
  NatsConfig nats;      // its own connection, named "coachd-lease"
  std::string node_id;  // load_node_id
  std::chrono::milliseconds renew_every{2000};
  int replicas = 1;                                     // of the bucket: 3 on a 3-server cluster
  std::function<void(const std::string& why)> on_lost;  // called once, on the lease's thread
  // 0 (default): the lease never expires (bucket COACH_NODES). Else it
  // expires this long after its last renewal (bucket COACH_LEASE); must be
  // more than twice renew_every.
  std::chrono::milliseconds ttl{0};
  // With a ttl: wait while another node holds the lease (a standby), asking
  // keep_waiting every renew_every; acquire answers unavailable once it
  // says false. Default: refuse at once with conflict.
  bool wait = false;
  std::function<bool()> keep_waiting;
};

class NodeLease {
 public:
  // Takes the lease, or says why not: conflict (another node owns the
  // users; the message names it), unavailable (no NATS or no JetStream).
  static Result<std::unique_ptr<NodeLease>> acquire(NodeLeaseOptions options);
  // Stops renewing; the key stays: this node is still the users' home.
  ~NodeLease();
  NodeLease(const NodeLease&) = delete;
  NodeLease& operator=(const NodeLease&) = delete;

  const std::string& node_id() const { return options_.node_id; }
  // The key's revision after the last renewal this node made.
  uint64_t revision() const;
  // Whether the lease is still held (false once on_lost was called).
  bool held() const;
  // Whether this node may still write as the owner: held, and (with a ttl)
  // renewed recently enough that nobody else can have taken it.
  bool may_write() const;
  // Since the last successful renewal (or the take) was sent.
  std::chrono::steady_clock::duration age() const;

 private:
  explicit NodeLease(NodeLeaseOptions options);
  Status take();
  const char* bucket() const { return options_.ttl.count() ? kLeaseBucket : kNodesBucket; }
  void renew_loop();
  std::string value() const;

  NodeLeaseOptions options_;
  natsConnection* connection_ = nullptr;
  jsCtx* js_ = nullptr;
  kvStore* kv_ = nullptr;
  mutable std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false, held_ = false;
  uint64_t revision_ = 0;
  // When the last successful renewal (or the take) was sent.
  std::chrono::steady_clock::time_point renewed_{};
  std::thread renewer_;
};

}  // namespace coach::actors
