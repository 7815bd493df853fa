#include "adapters/jetstream_log.h"

#include <nats/nats.h>

#include <algorithm>
#include <optional>

namespace coach::actors {
namespace {

constexpr const char* kWriterHeader = "Coach-Writer";
constexpr const char* kKeysHeader = "Coach-Keys";
constexpr const char* kErasedHeader = "Coach-Erased";

Error nats_error(natsStatus s, const std::string& what, jsErrCode code = jsErrCode(0)) {
  std::string text = what + ": " + natsStatus_GetText(s);
  if (code) text += " (JetStream error " + std::to_string(static_cast<int>(code)) + ")";
  return make_error(Errc::unavailable, text);
}

void put_u32(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>(v >> shift));
}
uint32_t get_u32(const char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

std::string header(natsMsg* msg, const char* name) {
  const char* value = nullptr;
  return natsMsgHeader_Get(msg, name, &value) == NATS_OK && value ? value : "";
}

// A stored message back as a group; nullopt when its body is not ours.
std::optional<events::ReplicatedGroup> decode(natsMsg* msg, uint64_t position) {
  events::ReplicatedGroup group;
  group.position = position;
  group.writer = header(msg, kWriterHeader);
  std::string_view body(natsMsg_GetData(msg), static_cast<size_t>(natsMsg_GetDataLength(msg)));
  while (!body.empty()) {
    if (body.size() < 4) return std::nullopt;
    uint32_t length = get_u32(body.data());
    if (body.size() - 4 < length) return std::nullopt;
    group.batches.emplace_back(body.substr(4, length));
    body.remove_prefix(4 + length);
  }
  std::string keys = header(msg, kKeysHeader);
  for (size_t at = 0; at < keys.size();) {
    size_t end = std::min(keys.find(',', at), keys.size());
    auto user = Uuid::parse(keys.substr(at, end - at));
    if (!user) return std::nullopt;
    group.new_keys.push_back(*user);
    at = end + 1;
  }
  if (auto erased = header(msg, kErasedHeader); !erased.empty()) {
    auto user = Uuid::parse(erased);
    if (!user) return std::nullopt;
    group.erased = *user;
  }
  return group;
}

}  // namespace

std::string partition_stream(uint32_t partition) {
  return std::string(kLogStream) + "_P" + std::to_string(partition);
}

std::string partition_subject(uint32_t partition) {
  return std::string(kLogSubject) + ".p" + std::to_string(partition);
}

NatsConfig log_connection_config(NatsConfig nats) {
  nats.name = "coachd-log";
  nats.reconnect_forever = true;
  // No publish waits in the client while it reconnects, to be sent later:
  // a group must reach the log now (fenced) or fail.
  nats.reconnect_buffer_bytes = 1;
  return nats;
}

JetStreamLog::JetStreamLog(JetStreamLogOptions options) : options_(std::move(options)) {}

Result<std::unique_ptr<JetStreamLog>> JetStreamLog::open(JetStreamLogOptions options) {
  std::unique_ptr<JetStreamLog> log(new JetStreamLog(std::move(options)));
  if (log->options_.connection) {
    log->connection_ = log->options_.connection;
  } else {
    auto connection = connect_nats(log_connection_config(log->options_.nats));
    if (!connection) return connection.error();
    log->connection_ = *connection;
    log->own_connection_ = true;
  }
  const char* stream = log->options_.stream.c_str();
  log->max_payload_ = static_cast<size_t>(natsConnection_GetMaxPayload(log->connection_));
  if (log->max_payload_ <= 2 * kHeaderBudget)
    return make_error(Errc::unavailable, "the NATS server's max payload is too small for the log");
  jsOptions js_options;
  jsOptions_Init(&js_options);
  js_options.Wait = log->options_.timeout.count();
  if (auto s = natsConnection_JetStream(&log->js_, log->connection_, &js_options); s != NATS_OK)
    return nats_error(s, "no JetStream context");

  jsStreamInfo* info = nullptr;
  jsErrCode code = jsErrCode(0);
  auto made = static_cast<natsStatus>(retry_while_jetstream_starts(
      [&] {
        if (js_GetStreamInfo(&info, log->js_, stream, nullptr, &code) == NATS_OK) return NATS_OK;
        jsStreamConfig config;
        jsStreamConfig_Init(&config);
        config.Name = stream;
        config.Description = "coach's replicated event log (adapters/jetstream_log.h)";
        const char* subjects[] = {log->options_.subject.c_str()};
        config.Subjects = subjects;
        config.SubjectsLen = 1;
        config.Storage = js_FileStorage;
        config.Replicas = log->options_.replicas;
        config.DenyDelete = true;  // nobody removes a group from the middle of the log
        return js_AddStream(&info, log->js_, &config, nullptr, &code);
      },
      [&] { return static_cast<int>(code); }));
  if (made != NATS_OK)
    return nats_error(made, std::string("cannot make the stream ") + stream, code);
  // An existing stream keeps the replicas it was made with: a log made at
  // R1 must not silently serve a node told to keep three copies.
  const int64_t replicas = info && info->Config ? info->Config->Replicas : 0;
  jsStreamInfo_Destroy(info);
  if (replicas != log->options_.replicas)
    return make_error(Errc::invalid_argument,
                      std::string("stream ") + stream + " has " + std::to_string(replicas) +
                          " replicas, this node was told " +
                          std::to_string(log->options_.replicas) +
                          ": start every node with the same --replicate-log, or change the "
                          "stream (nats stream edit)");
  made = static_cast<natsStatus>(retry_while_jetstream_starts([&] {
    if (js_KeyValue(&log->keys_, log->js_, kKeysBucket) == NATS_OK) return NATS_OK;
    kvConfig config;
    kvConfig_Init(&config);
    config.Bucket = kKeysBucket;
    config.Description =
        "users' wrapped data keys of the replicated log (adapters/jetstream_log.h)";
    config.History = 1;
    config.Replicas = log->options_.replicas;
    config.StorageType = js_FileStorage;
    return js_CreateKeyValue(&log->keys_, log->js_, &config);
  }));
  if (made != NATS_OK)
    return nats_error(made, std::string("cannot make the key-value bucket ") + kKeysBucket);
  return log;
}

JetStreamLog::~JetStreamLog() {
  if (keys_) kvStore_Destroy(keys_);
  if (js_) jsCtx_Destroy(js_);
  if (connection_ && own_connection_) natsConnection_Destroy(connection_);
}

Status JetStreamLog::put_key(const Uuid& user, const std::string& wrapped) {
  if (options_.may_write && !options_.may_write())
    return make_error(Errc::unavailable,
                      "this node's lease is not fresh (renewals failing): it may not write now");
  uint64_t revision = 0;
  auto s = kvStore_Create(&revision, keys_, user.to_string().c_str(), wrapped.data(),
                          static_cast<int>(wrapped.size()));
  if (s == NATS_OK) return Ok{};
  // Already there: this writer's own earlier try, or another writer's key.
  auto stored = get_key(user);
  if (stored && *stored && **stored == wrapped) return Ok{};
  if (stored && *stored)
    return make_error(Errc::conflict, "user " + user.to_string() +
                                          " has a data key from another writer in " + kKeysBucket);
  return nats_error(s, "cannot store a data key in " + std::string(kKeysBucket));
}

size_t JetStreamLog::max_group_bytes() const {
  return max_payload_ - kHeaderBudget;
}

Result<std::optional<std::string>> JetStreamLog::get_key(const Uuid& user) {
  kvEntry* entry = nullptr;
  auto s = kvStore_Get(&entry, keys_, user.to_string().c_str());
  if (s == NATS_NOT_FOUND) return std::optional<std::string>{};
  if (s != NATS_OK) return nats_error(s, "cannot read a data key from " + std::string(kKeysBucket));
  std::string value(static_cast<const char*>(kvEntry_Value(entry)),
                    static_cast<size_t>(kvEntry_ValueLen(entry)));
  kvEntry_Destroy(entry);
  return std::optional<std::string>{std::move(value)};
}

Status JetStreamLog::shred_key(const Uuid& user) {
  // Purge, not delete: a delete keeps the old revisions' values.
  auto s = kvStore_Purge(keys_, user.to_string().c_str(), nullptr);
  if (s != NATS_OK) return nats_error(s, "cannot shred a data key in " + std::string(kKeysBucket));
  return Ok{};
}

Result<uint64_t> JetStreamLog::append(uint64_t after, const events::ReplicatedGroup& group) {
  if (options_.may_write && !options_.may_write())
    return make_error(Errc::unavailable,
                      "this node's lease is not fresh (renewals failing): it may not write now");
  // As many batches per message as the server's max payload holds, less
  // the headers (the first message carries the new users' keys).
  const size_t keys_header = 37 * group.new_keys.size();
  if (keys_header + kHeaderBudget >= max_payload_)
    return make_error(Errc::payload_too_large, "too many new users in one group for the log");
  const size_t limit = max_payload_ - kHeaderBudget - keys_header;
  size_t first = 0;
  uint64_t position = after;
  do {
    size_t end = first, bytes = 0;
    while (end < group.batches.size() &&
           (end == first || bytes + 4 + group.batches[end].size() <= limit))
      bytes += 4 + group.batches[end++].size();
    auto stored = publish(position, group, first, end, /*with_markers=*/first == 0);
    if (!stored) return stored.error();
    position = *stored;
    first = end;
  } while (first < group.batches.size());
  return position;
}

Result<uint64_t> JetStreamLog::publish(uint64_t after, const events::ReplicatedGroup& group,
                                       size_t first_batch, size_t end_batch, bool with_markers) {
  std::string body;
  for (size_t i = first_batch; i < end_batch; ++i) {
    put_u32(body, static_cast<uint32_t>(group.batches[i].size()));
    body += group.batches[i];
  }
  natsMsg* msg = nullptr;
  if (auto s = natsMsg_Create(&msg, options_.subject.c_str(), nullptr, body.data(),
                              static_cast<int>(body.size()));
      s != NATS_OK)
    return nats_error(s, "cannot make a log message");
  std::string expected = std::to_string(after), keys;
  natsMsgHeader_Set(msg, "Nats-Expected-Last-Sequence", expected.c_str());
  natsMsgHeader_Set(msg, kWriterHeader, options_.writer_id.c_str());
  if (with_markers) {
    for (const auto& user : group.new_keys) keys += (keys.empty() ? "" : ",") + user.to_string();
    if (!keys.empty()) natsMsgHeader_Set(msg, kKeysHeader, keys.c_str());
    if (group.erased) natsMsgHeader_Set(msg, kErasedHeader, group.erased->to_string().c_str());
  }
  jsPubAck* ack = nullptr;
  jsErrCode code = jsErrCode(0);
  natsStatus s = js_PublishMsg(&ack, js_, msg, nullptr, &code);
  natsMsg_Destroy(msg);
  if (s != NATS_OK && code == JSStreamWrongLastSequenceErr)
    return make_error(Errc::conflict, "the log is past position " + expected);
  if (s != NATS_OK) return nats_error(s, "the log did not acknowledge a group", code);
  uint64_t position = ack->Sequence;
  jsPubAck_Destroy(ack);
  return position;
}

Result<uint64_t> JetStreamLog::last_position() {
  jsStreamInfo* info = nullptr;
  jsErrCode code = jsErrCode(0);
  if (auto s = js_GetStreamInfo(&info, js_, options_.stream.c_str(), nullptr, &code); s != NATS_OK)
    return nats_error(s, "cannot read the stream " + options_.stream, code);
  uint64_t last = info->State.LastSeq;
  jsStreamInfo_Destroy(info);
  return last;
}

// One ordered consumer per read, from position after + 1: the server pushes
// the messages with flow control, one round trip for the lot instead of one
// js_GetMsg per group (catch-up was bound by that round trip: about 1,200
// groups/s).
Result<std::vector<events::ReplicatedGroup>> JetStreamLog::read(uint64_t after, size_t max_groups) {
  jsStreamInfo* info = nullptr;
  jsErrCode info_code = jsErrCode(0);
  if (auto got = js_GetStreamInfo(&info, js_, options_.stream.c_str(), nullptr, &info_code);
      got != NATS_OK)
    return nats_error(got, "cannot read the stream " + options_.stream, info_code);
  uint64_t last = info->State.LastSeq, held = info->State.Msgs;
  jsStreamInfo_Destroy(info);
  std::vector<events::ReplicatedGroup> out;
  // Nothing after `after`, or nothing at all (a purged stream keeps its
  // last sequence): no consumer that would wait for messages never sent.
  if (after >= last || held == 0 || max_groups == 0) return out;
  jsSubOptions sub_options;
  jsSubOptions_Init(&sub_options);
  sub_options.Stream = options_.stream.c_str();
  sub_options.Ordered = true;
  sub_options.Config.DeliverPolicy = js_DeliverByStartSequence;
  sub_options.Config.OptStartSeq = after + 1;
  natsSubscription* sub = nullptr;
  jsErrCode code = jsErrCode(0);
  natsStatus s =
      js_SubscribeSync(&sub, js_, options_.subject.c_str(), nullptr, &sub_options, &code);
  if (s != NATS_OK)
    return nats_error(s, "cannot read the log after position " + std::to_string(after), code);
  natsSubscription_SetPendingLimits(sub, -1, -1);  // groups near the max payload: no slow consumer
  std::optional<Error> failed;
  while (out.size() < max_groups) {
    natsMsg* msg = nullptr;
    s = natsSubscription_NextMsg(&msg, sub, static_cast<int64_t>(options_.timeout.count()));
    if (s != NATS_OK) {
      failed = nats_error(s, "cannot read the log after position " +
                                 std::to_string(out.empty() ? after : out.back().position));
      break;
    }
    jsMsgMetaData* meta = nullptr;
    uint64_t position = 0, pending = 0;
    if (natsMsg_GetMetaData(&meta, msg) == NATS_OK) {
      position = meta->Sequence.Stream;
      pending = meta->NumPending;  // none left: the last was removed, or this is it
      jsMsgMetaData_Destroy(meta);
    }
    auto group = position > after ? decode(msg, position) : std::nullopt;
    natsMsg_Destroy(msg);
    if (!group) {
      failed = make_error(Errc::corrupted, "position " + std::to_string(position) + " of stream " +
                                               options_.stream + " is not a coach log group");
      break;
    }
    out.push_back(std::move(*group));
    if (position >= last || pending == 0) break;
  }
  natsSubscription_Unsubscribe(sub);
  natsSubscription_Destroy(sub);
  if (failed) return *failed;
  return out;
}

}  // namespace coach::actors
