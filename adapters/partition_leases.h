// PartitionLeases: which node owns each partition of a cluster (issue 18,
// step three), held in NATS JetStream's key-value store, so that every
// partition has at most one writer and coach builds no consensus of its own.
//
// Keys of bucket COACH_LEASE (entries expire `ttl` after their last write):
//   member.<node id>    a live node; written every renew_every
//   partition.<p>       p's owner: {"node": <node id>, "renewed_at": ...};
//                       made by compare-and-set on "no key", renewed by
//                       compare-and-set on its revision
// and key "partitions" of bucket COACH_NODES (no expiry): the partition
// count, written once by the first node; a node told another count is
// refused (base/partition.h).
//
// Who owns what. The preferred owner of p is, partition by partition, the
// live member with the highest rendezvous_weight(node, p) among those with
// fewer than ceil(partitions / members) so far (rendezvous with bounded
// load): members agree on it without talking, each gets a fair share, and
// a member joining or leaving moves few partitions. Every renew_every each node
//   - renews its member key and every partition key it holds;
//   - takes each partition without a key whose preferred owner it is (or,
//     when it stayed free for three rounds, any such partition: a preferred
//     owner that does not take it does not leave it unserved);
//   - hands off each partition it holds whose preferred owner is another
//     member seen for two rounds (a node joining): on_handoff; the node
//     stops serving it, then calls release().
// Fencing: a node that has not renewed p within ttl - renew_every of its
// last renewal (paused, cut off from NATS) no longer may_write(p); p's
// key then expires and another node may take it. A renewal that finds the
// key changed by another node calls on_lost: that node owns p now.
// Callbacks run on the lease thread and must not block (queue the work).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "base/partition.h"
#include "base/result.h"
#include "wire/nats_connect.h"

typedef struct __jsCtx jsCtx;
typedef struct __kvStore kvStore;

namespace coach::actors {

inline constexpr const char* kPartitionsKey = "partitions";  // in bucket COACH_NODES

struct PartitionLeasesOptions {
  NatsConfig nats;      // its own connection, named "coachd-partitions"
  std::string node_id;  // load_node_id (adapters/node_lease.h)
  uint32_t partitions = kDefaultPartitions;
  int replicas = 1;  // of the buckets: 3 on a 3-server cluster
  // A lease lapses `ttl` after its owner's last renewal; renewed every
  // renew_every (less than a third of ttl). Defaults: 6 s, 2 s.
  std::chrono::milliseconds ttl{6000};
  std::chrono::milliseconds renew_every{2000};
  // This node now holds p: catch up and serve it.
  std::function<void(uint32_t partition)> on_taken;
  // Another node holds p now: stop writing it at once.
  std::function<void(uint32_t partition, const std::string& why)> on_lost;
  // Another member is p's preferred owner: stop serving p, then release(p).
  std::function<void(uint32_t partition)> on_handoff;
};

// What the ops view shows of the cluster.
struct PartitionFigures {
  uint32_t partitions = 0;                 // the cluster's count
  uint32_t members = 0;                    // live nodes, as last seen
  uint32_t held = 0;                       // partitions this node holds
  uint32_t owned_elsewhere = 0;            // partitions other nodes hold
  double oldest_renewal_s = 0;             // age of this node's least recently renewed lease
  std::vector<std::string> member_ids;     // live nodes, sorted
  std::map<uint32_t, std::string> owners;  // every partition with a known owner
  std::map<uint32_t, double> lease_age_s;  // this node's partitions: since the last renewal
};

class PartitionLeases {
 public:
  // Connects, checks (or records) the partition count and the bucket's
  // ttl, joins as a member and starts the lease thread; the first round of
  // takes runs within renew_every. invalid_argument for a count or ttl
  // that differs from the cluster's; unavailable without JetStream.
  static Result<std::unique_ptr<PartitionLeases>> start(PartitionLeasesOptions options);
  // Stops renewing: what this node holds lapses after ttl (as in a crash).
  // Call leave() and release() what it holds first for a graceful stop.
  ~PartitionLeases();
  PartitionLeases(const PartitionLeases&) = delete;
  PartitionLeases& operator=(const PartitionLeases&) = delete;

  // Gives p up (its key is deleted; the preferred owner takes it within a
  // round). Call once the node no longer serves or writes p.
  void release(uint32_t partition);
  // Stops taking partitions and removes this node's member key, so that
  // the others become the preferred owners of what it holds.
  void leave();

  // Whether this node holds p and renewed it recently enough that nobody
  // else can have taken it.
  bool may_write(uint32_t partition) const;
  // p's owner as last seen (this node's id for what it holds); nullopt
  // when nobody holds it.
  std::optional<std::string> owner(uint32_t partition) const;
  std::vector<uint32_t> held() const;
  PartitionFigures figures() const;
  const std::string& node_id() const { return options_.node_id; }
  uint32_t partitions() const { return options_.partitions; }

 private:
  explicit PartitionLeases(PartitionLeasesOptions options);
  Status check_partition_count();
  void loop();
  void round();
  void renew(uint32_t partition, uint64_t revision);
  void look_and_take();
  // Each partition's preferred owner among members_ (mu_ held).
  std::vector<std::string> preferred_owners() const;
  void do_releases();

  struct Held {
    uint64_t revision = 0;
    std::chrono::steady_clock::time_point renewed{};
    bool handing_off = false;
  };

  PartitionLeasesOptions options_;
  natsConnection* connection_ = nullptr;
  jsCtx* js_ = nullptr;
  kvStore* kv_ = nullptr;
  mutable std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false, leaving_ = false, left_ = false;
  std::map<uint32_t, Held> held_;
  std::vector<uint32_t> to_release_;
  std::map<uint32_t, std::string> owners_;  // as last seen, other nodes only
  std::map<std::string, int> members_;      // node id -> rounds seen in a row
  std::map<uint32_t, int> free_rounds_;
  std::thread thread_;
};

}  // namespace coach::actors
