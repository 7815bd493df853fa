#include "adapters/node_lease.h"

#include <fcntl.h>
#include <nats/nats.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "base/ids.h"
#include "base/time.h"
#include "wire/log.h"

namespace coach::actors {
namespace {

Error nats_error(natsStatus s, const std::string& what) {
  return make_error(Errc::unavailable, what + ": " + natsStatus_GetText(s) + " (" +
                                           nats_GetLastError(nullptr) +
                                           "); is nats-server running with JetStream (-js)?");
}

}  // namespace

std::string lease_value(const std::string& node_id) {
  return "{\"node\":\"" + node_id + "\",\"renewed_at\":\"" +
         format_time(std::chrono::system_clock::now()) + "\"}";
}

std::string lease_owner(std::string_view value) {
  constexpr std::string_view kField = "\"node\":\"";
  auto at = value.find(kField);
  if (at == std::string_view::npos) return "";
  at += kField.size();
  auto end = value.find('"', at);
  return end == std::string_view::npos ? "" : std::string(value.substr(at, end - at));
}

Result<kvStore*> open_lease_bucket(jsCtx* js, const char* bucket, const char* description,
                                   int replicas, std::chrono::milliseconds ttl) {
  kvStore* kv = nullptr;
  auto made = static_cast<natsStatus>(retry_while_jetstream_starts([&] {
    if (js_KeyValue(&kv, js, bucket) == NATS_OK) return NATS_OK;
    kvConfig config;
    kvConfig_Init(&config);
    config.Bucket = bucket;
    config.Description = description;
    config.History = 1;
    config.Replicas = replicas;
    config.StorageType = js_FileStorage;
    config.TTL = std::chrono::duration_cast<std::chrono::nanoseconds>(ttl).count();
    return js_CreateKeyValue(&kv, js, &config);
  }));
  if (made != NATS_OK)
    return nats_error(made, std::string("cannot make the key-value bucket ") + bucket);
  if (!ttl.count()) return kv;
  // may_write() counts on the bucket's TTL being this node's: a bucket made
  // by a node with a shorter one would let another node take a lease while
  // this one still writes.
  kvStatus* status = nullptr;
  if (auto s = kvStore_Status(&status, kv); s != NATS_OK) {
    kvStore_Destroy(kv);
    return nats_error(s, std::string("cannot read the bucket ") + bucket);
  }
  auto kept = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::nanoseconds(kvStatus_TTL(status)));
  kvStatus_Destroy(status);
  if (kept == ttl) return kv;
  kvStore_Destroy(kv);
  return make_error(Errc::invalid_argument,
                    std::string("bucket ") + bucket + " expires leases after " +
                        std::to_string(kept.count()) + " ms, this node was told " +
                        std::to_string(ttl.count()) +
                        " ms: start every node with the same --lease-ttl-ms");
}

Result<std::string> load_node_id(const std::string& data_dir) {
  auto path = data_dir + "/node.id";
  std::ifstream in(path);
  if (in) {
    std::string id;
    std::getline(in, id);
    if (!Uuid::parse(id))
      return make_error(Errc::invalid_argument,
                        path + " holds \"" + id.substr(0, 40) + "\", not a node id (a UUID)");
    return id;
  }
  std::error_code ec;
  std::filesystem::create_directories(data_dir, ec);
  auto id = new_uuid_string();
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
  if (fd < 0) return make_error(Errc::io_error, "cannot make " + path);
  auto line = id + "\n";
  bool written = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) &&
                 ::fsync(fd) == 0;
  ::close(fd);
  if (!written) return make_error(Errc::io_error, "cannot write " + path);
  return id;
}

NodeLease::NodeLease(NodeLeaseOptions options) : options_(std::move(options)) {}

Result<std::unique_ptr<NodeLease>> NodeLease::acquire(NodeLeaseOptions options) {
  std::unique_ptr<NodeLease> lease(new NodeLease(std::move(options)));
  auto nats = lease->options_.nats;
  nats.name = "coachd-lease";
  nats.reconnect_forever = true;
  auto connection = connect_nats(nats);
  if (!connection) return connection.error();
  lease->connection_ = *connection;
  if (auto s = natsConnection_JetStream(&lease->js_, lease->connection_, nullptr); s != NATS_OK)
    return nats_error(s, "no JetStream context");
  const auto& o = lease->options_;
  if (o.ttl.count() && o.ttl <= 2 * o.renew_every)
    return make_error(Errc::invalid_argument, "the lease's ttl (" + std::to_string(o.ttl.count()) +
                                                  " ms) must be more than twice its renewal (" +
                                                  std::to_string(o.renew_every.count()) + " ms)");
  auto kv = open_lease_bucket(
      lease->js_, lease->bucket(),
      "which coachd serves this NATS system's users (adapters/node_lease.h)", o.replicas, o.ttl);
  if (!kv) return kv.error();
  lease->kv_ = *kv;
  for (;;) {
    auto taken = lease->take();
    if (taken) break;
    if (taken.error().code != Errc::conflict || !o.wait) return taken.error();
    if (o.keep_waiting && !o.keep_waiting())
      return make_error(Errc::unavailable, "stopped while waiting for the lease");
    std::this_thread::sleep_for(o.renew_every);
  }
  lease->renewer_ = std::thread([l = lease.get()] { l->renew_loop(); });
  return lease;
}

std::string NodeLease::value() const {
  return lease_value(options_.node_id);
}

Status NodeLease::take() {
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto sent = std::chrono::steady_clock::now();
    kvEntry* entry = nullptr;
    natsStatus s = kvStore_Get(&entry, kv_, kOwnerKey);
    uint64_t revision = 0;
    if (s == NATS_NOT_FOUND) {
      s = kvStore_CreateString(&revision, kv_, kOwnerKey, value().c_str());
      if (s != NATS_OK) continue;  // another node took it first: look again
    } else if (s == NATS_OK) {
      std::string owner = lease_owner(kvEntry_ValueString(entry));
      uint64_t last = kvEntry_Revision(entry);
      kvEntry_Destroy(entry);
      if (owner != options_.node_id && options_.ttl.count())
        return make_error(Errc::conflict, "node " + owner + " holds the lease (bucket " + bucket() +
                                              ") until it stops renewing it");
      if (owner != options_.node_id)
        return make_error(Errc::conflict,
                          "node " + owner +
                              " serves the users of this NATS system (key-value bucket " +
                              kNodesBucket +
                              ", key owner): its data dir holds their logs, and coach does not "
                              "yet replicate logs between nodes, so a second node must not "
                              "serve them. Stop this coachd, or give it its own NATS system");
      s = kvStore_UpdateString(&revision, kv_, kOwnerKey, value().c_str(), last);
      if (s != NATS_OK) continue;  // changed meanwhile: look again
    } else {
      return nats_error(s, "cannot read the node lease");
    }
    std::lock_guard lock(mu_);
    revision_ = revision;
    renewed_ = sent;
    held_ = true;
    return Ok{};
  }
  return make_error(Errc::unavailable, "the node lease kept changing while being taken");
}

void NodeLease::renew_loop() {
  std::unique_lock lock(mu_);
  while (!stopping_ && held_) {
    wake_.wait_for(lock, options_.renew_every, [&] { return stopping_; });
    if (stopping_) break;
    uint64_t last = revision_, next = 0;
    auto sent = std::chrono::steady_clock::now();
    lock.unlock();
    natsStatus s = kvStore_UpdateString(&next, kv_, kOwnerKey, value().c_str(), last);
    std::string lost;
    if (s != NATS_OK) {
      // Changed by someone else, or NATS is away (then retry: without a
      // ttl nobody may take the key meanwhile; with one, see below).
      kvEntry* entry = nullptr;
      natsStatus read = kvStore_Get(&entry, kv_, kOwnerKey);
      // Expired while renewals failed (NATS away, or this node paused), and
      // nobody took it: take it back, as only one node can (create). Safe
      // for the log: had anyone written meanwhile, the log's fence refuses
      // this node's next write.
      if (read == NATS_NOT_FOUND && options_.ttl.count()) {
        sent = std::chrono::steady_clock::now();
        s = kvStore_CreateString(&next, kv_, kOwnerKey, value().c_str());
        if (s == NATS_OK)
          log_line(LogLevel::warn, "lease", "the node lease lapsed and was taken back",
                   {{"node", options_.node_id}});
        else  // taken by another node (then lost, below), or NATS still away
          read = kvStore_Get(&entry, kv_, kOwnerKey);
      }
      if (read == NATS_OK && kvEntry_Revision(entry) != last &&
          lease_owner(kvEntry_ValueString(entry)) == options_.node_id && options_.ttl.count()) {
        // Our own take-back, whose answer was lost: ours since it was sent.
        next = kvEntry_Revision(entry);
        s = NATS_OK;
      } else if (read == NATS_OK) {
        if (kvEntry_Revision(entry) != last)
          lost = "the node lease was changed by " + lease_owner(kvEntry_ValueString(entry)) +
                 " (revision " + std::to_string(kvEntry_Revision(entry)) + ", this node held " +
                 std::to_string(last) + ")";
      }
      if (entry) kvEntry_Destroy(entry);
    }
    lock.lock();
    if (s == NATS_OK) revision_ = next, renewed_ = sent;
    if (!lost.empty()) {
      held_ = false;
      lock.unlock();
      if (options_.on_lost) options_.on_lost(lost);
      return;
    }
  }
}

uint64_t NodeLease::revision() const {
  std::lock_guard lock(mu_);
  return revision_;
}

bool NodeLease::held() const {
  std::lock_guard lock(mu_);
  return held_;
}

std::chrono::steady_clock::duration NodeLease::age() const {
  std::lock_guard lock(mu_);
  return std::chrono::steady_clock::now() - renewed_;
}

bool NodeLease::may_write() const {
  std::lock_guard lock(mu_);
  if (!held_) return false;
  if (!options_.ttl.count()) return true;
  // Nobody may take the key before ttl after the renewal's write, which
  // came after it was sent; less one renewal for the clocks' drift.
  return std::chrono::steady_clock::now() < renewed_ + options_.ttl - options_.renew_every;
}

NodeLease::~NodeLease() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (renewer_.joinable()) renewer_.join();
  if (kv_) kvStore_Destroy(kv_);
  if (js_) jsCtx_Destroy(js_);
  if (connection_) natsConnection_Destroy(connection_);
}

}  // namespace coach::actors
