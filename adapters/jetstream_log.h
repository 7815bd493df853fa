// JetStreamLog: the event store's replica (events/log_replica.h) on NATS
// JetStream, replicated by JetStream's own Raft groups (R3 on a 3-server
// cluster): coach never builds its own consensus.
//
// - Groups go to stream COACH_LOG, subject "coach.log", one message per
//   group (a group larger than the server's max payload is split into
//   several messages, each a group of its own). The body is the group's
//   WriteBatch contents, each as a 4-byte big-endian length and the bytes;
//   headers: Coach-Writer (node id), Coach-Keys (comma-separated user ids
//   whose data key came with it), Coach-Erased (a user id).
// - The fence is the header Nats-Expected-Last-Sequence: the stream-wide
//   last sequence, which nats-server 2.9 checks when it applies the message
//   on every replica (the per-subject form is not race-safe on clustered
//   streams before 2.9.21). A message whose check fails is stored nowhere
//   and the append answers `conflict`.
// - Data keys go to key-value bucket COACH_KEYS (key: the user id, history
//   1), so that shred_key removes the only copy outside the nodes' stores;
//   the stream keeps only ciphertext sealed with keys that no longer exist.
// - An append is acknowledged once JetStream acknowledged it: stored in
//   memory on a majority of the stream's replicas. nats-server 2.9 syncs its
//   files every 60 s (sync_interval), so a majority of servers losing power
//   at once within that time can lose acknowledged groups; one server
//   dying loses nothing.
#pragma once

#include <functional>
#include <memory>
#include <mutex>

#include "events/log_replica.h"
#include "wire/nats_connect.h"

typedef struct __jsCtx jsCtx;
typedef struct __natsConnection natsConnection;
typedef struct __kvStore kvStore;

namespace coach::actors {

inline constexpr const char* kLogStream = "COACH_LOG";
inline constexpr const char* kLogSubject = "coach.log";
inline constexpr const char* kKeysBucket = "COACH_KEYS";

// Partition p's stream and subject in a partitioned cluster:
// "COACH_LOG_P<p>" and "coach.log.p<p>" (p in decimal).
std::string partition_stream(uint32_t partition);
std::string partition_subject(uint32_t partition);

// How a connection shared by several logs is made: named "coachd-log",
// reconnecting forever, with no reconnect buffer (a group must reach the
// log now, fenced, or fail; never be sent later).
NatsConfig log_connection_config(NatsConfig nats);

struct JetStreamLogOptions {
  NatsConfig nats;  // its own connection, named "coachd-log" (unless `connection` is set)
  // A connection to use instead of its own (borrowed: it must outlive the
  // log). A cluster node's partitions share one (log_connection_config
  // says how it must be made). Default: none.
  natsConnection* connection = nullptr;
  // The stream and its one subject. Defaults: COACH_LOG, "coach.log"; a
  // cluster's partition p: partition_stream(p), partition_subject(p).
  std::string stream = kLogStream;
  std::string subject = kLogSubject;
  std::string writer_id;  // this node's id (load_node_id)
  int replicas = 1;       // of the stream and the bucket: 3 on a 3-server cluster
  // How long one append or read waits for JetStream. Default 5 s (a new
  // stream leader is elected within a few seconds after a server dies).
  std::chrono::milliseconds timeout{5000};
  // Asked before every append and put_key: false while this node may not
  // write (its lease is not fresh); they then answer `unavailable`.
  // Default: always true.
  std::function<bool()> may_write;
};

class JetStreamLog final : public events::LogReplica {
 public:
  // Connects and makes the stream and the bucket when absent. unavailable
  // without NATS or JetStream.
  static Result<std::unique_ptr<JetStreamLog>> open(JetStreamLogOptions options);
  ~JetStreamLog() override;
  JetStreamLog(const JetStreamLog&) = delete;
  JetStreamLog& operator=(const JetStreamLog&) = delete;

  const std::string& writer_id() const override { return options_.writer_id; }
  size_t max_group_bytes() const override;
  Status put_key(const Uuid& user, const std::string& wrapped) override;
  Result<std::optional<std::string>> get_key(const Uuid& user) override;
  Status shred_key(const Uuid& user) override;
  Result<uint64_t> append(uint64_t after, const events::ReplicatedGroup& group) override;
  Result<std::vector<events::ReplicatedGroup>> read(uint64_t after, size_t max_groups) override;

  // The stream's last sequence (0: empty).
  Result<uint64_t> last_position();

 private:
  explicit JetStreamLog(JetStreamLogOptions options);
  Result<uint64_t> publish(uint64_t after, const events::ReplicatedGroup& group, size_t first_batch,
                           size_t end_batch, bool with_markers);

  static constexpr size_t kHeaderBudget = 4096;  // of a message, besides Coach-Keys
  JetStreamLogOptions options_;
  size_t max_payload_ = 0;  // the server's
  natsConnection* connection_ = nullptr;
  bool own_connection_ = false;
  jsCtx* js_ = nullptr;
  kvStore* keys_ = nullptr;
};

}  // namespace coach::actors
