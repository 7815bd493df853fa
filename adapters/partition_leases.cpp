#include "adapters/partition_leases.h"

#include <nats/nats.h>

#include "adapters/node_lease.h"
#include "wire/log.h"

namespace coach::actors {
namespace {

constexpr std::string_view kMemberPrefix = "member.";
constexpr std::string_view kPartitionPrefix = "partition.";

Error nats_error(natsStatus s, const std::string& what) {
  return make_error(Errc::unavailable, what + ": " + natsStatus_GetText(s) + " (" +
                                           nats_GetLastError(nullptr) +
                                           "); is nats-server running with JetStream (-js)?");
}

std::string partition_key(uint32_t partition) {
  return std::string(kPartitionPrefix) + std::to_string(partition);
}

std::string member_key(const std::string& node_id) {
  return std::string(kMemberPrefix) + node_id;
}

// The partition a key names, or nullopt.
std::optional<uint32_t> partition_in(std::string_view key, uint32_t partitions) {
  if (key.substr(0, kPartitionPrefix.size()) != kPartitionPrefix) return std::nullopt;
  key.remove_prefix(kPartitionPrefix.size());
  if (key.empty() || key.size() > 5) return std::nullopt;
  uint32_t p = 0;
  for (char c : key) {
    if (c < '0' || c > '9') return std::nullopt;
    p = p * 10 + static_cast<uint32_t>(c - '0');
  }
  return p < partitions ? std::optional(p) : std::nullopt;
}

}  // namespace

PartitionLeases::PartitionLeases(PartitionLeasesOptions options) : options_(std::move(options)) {}

Result<std::unique_ptr<PartitionLeases>> PartitionLeases::start(PartitionLeasesOptions options) {
  if (options.partitions < 1 || options.partitions > kMaxPartitions)
    return make_error(Errc::invalid_argument,
                      "the partition count must be 1 to " + std::to_string(kMaxPartitions));
  if (options.ttl < 3 * options.renew_every)
    return make_error(Errc::invalid_argument, "the lease's ttl must be at least three renewals");
  std::unique_ptr<PartitionLeases> leases(new PartitionLeases(std::move(options)));
  auto nats = leases->options_.nats;
  nats.name = "coachd-partitions";
  nats.reconnect_forever = true;
  auto connection = connect_nats(nats);
  if (!connection) return connection.error();
  leases->connection_ = *connection;
  if (auto s = natsConnection_JetStream(&leases->js_, leases->connection_, nullptr); s != NATS_OK)
    return nats_error(s, "no JetStream context");
  if (auto checked = leases->check_partition_count(); !checked) return checked.error();
  auto kv = open_lease_bucket(leases->js_, kLeaseBucket,
                              "members and partition owners of a coach cluster "
                              "(adapters/partition_leases.h)",
                              leases->options_.replicas, leases->options_.ttl);
  if (!kv) return kv.error();
  leases->kv_ = *kv;
  // A whole-system lease (a replicated node without partitions) and
  // partition leases must never serve the same users.
  kvEntry* entry = nullptr;
  if (kvStore_Get(&entry, leases->kv_, kOwnerKey) == NATS_OK) {
    auto owner = lease_owner(kvEntry_ValueString(entry));
    kvEntry_Destroy(entry);
    return make_error(Errc::conflict, "node " + owner +
                                          " serves every user of this NATS system without "
                                          "partitions (--partitions 0): stop it first");
  }
  uint64_t revision = 0;
  auto s = kvStore_PutString(&revision, leases->kv_, member_key(leases->options_.node_id).c_str(),
                             lease_value(leases->options_.node_id).c_str());
  if (s != NATS_OK) return nats_error(s, "cannot join the cluster's members");
  leases->thread_ = std::thread([l = leases.get()] { l->loop(); });
  return leases;
}

Status PartitionLeases::check_partition_count() {
  auto nodes = open_lease_bucket(js_, kNodesBucket, "coach cluster settings", options_.replicas,
                                 std::chrono::milliseconds(0));
  if (!nodes) return nodes.error();
  std::string mine = std::to_string(options_.partitions);
  std::string theirs;
  for (int attempt = 0; attempt < 3 && theirs.empty(); ++attempt) {
    kvEntry* entry = nullptr;
    natsStatus s = kvStore_Get(&entry, *nodes, kPartitionsKey);
    if (s == NATS_OK) {
      theirs = kvEntry_ValueString(entry);
      kvEntry_Destroy(entry);
    } else if (s == NATS_NOT_FOUND) {
      uint64_t revision = 0;
      if (kvStore_CreateString(&revision, *nodes, kPartitionsKey, mine.c_str()) == NATS_OK)
        theirs = mine;
    } else {
      kvStore_Destroy(*nodes);
      return nats_error(s, "cannot read the cluster's partition count");
    }
  }
  kvStore_Destroy(*nodes);
  if (theirs == mine) return Ok{};
  return make_error(Errc::invalid_argument, "this cluster has " + theirs + " partitions (bucket " +
                                                kNodesBucket + ", key " + kPartitionsKey +
                                                "), this node was told " + mine +
                                                ": start every node with the same --partitions");
}

PartitionLeases::~PartitionLeases() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (kv_) kvStore_Destroy(kv_);
  if (js_) jsCtx_Destroy(js_);
  if (connection_) natsConnection_Destroy(connection_);
}

void PartitionLeases::release(uint32_t partition) {
  {
    std::lock_guard lock(mu_);
    to_release_.push_back(partition);
  }
  wake_.notify_all();
}

void PartitionLeases::leave() {
  {
    std::lock_guard lock(mu_);
    leaving_ = true;
  }
  wake_.notify_all();
}

void PartitionLeases::loop() {
  auto next_round = std::chrono::steady_clock::now();
  std::unique_lock lock(mu_);
  while (!stopping_) {
    wake_.wait_until(lock, next_round,
                     [&] { return stopping_ || !to_release_.empty() || (leaving_ && !left_); });
    if (stopping_) break;
    lock.unlock();
    do_releases();
    if (std::chrono::steady_clock::now() >= next_round) {
      next_round = std::chrono::steady_clock::now() + options_.renew_every;
      round();
    }
    lock.lock();
  }
  lock.unlock();
  do_releases();  // a graceful stop's last releases
}

void PartitionLeases::do_releases() {
  std::vector<uint32_t> releases;
  bool leave_now = false;
  {
    std::lock_guard lock(mu_);
    // Only what this node still holds: a lease lost meanwhile is another
    // node's key now.
    for (auto p : to_release_)
      if (held_.erase(p)) releases.push_back(p);
    to_release_.clear();
    leave_now = leaving_ && !left_;
    left_ = left_ || leaving_;
  }
  if (leave_now) kvStore_Delete(kv_, member_key(options_.node_id).c_str());
  for (auto p : releases) {
    if (auto s = kvStore_Delete(kv_, partition_key(p).c_str()); s != NATS_OK)
      log_line(LogLevel::warn, "partitions", "a released lease could not be deleted: it lapses",
               {{"partition", static_cast<int64_t>(p)}, {"error", natsStatus_GetText(s)}});
    else
      log_line(LogLevel::info, "partitions", "partition released",
               {{"partition", static_cast<int64_t>(p)}});
  }
}

void PartitionLeases::round() {
  bool leaving;
  std::vector<std::pair<uint32_t, uint64_t>> renewals;
  {
    std::lock_guard lock(mu_);
    leaving = leaving_;
    for (const auto& [p, held] : held_) renewals.emplace_back(p, held.revision);
  }
  if (!leaving) {
    uint64_t revision = 0;
    kvStore_PutString(&revision, kv_, member_key(options_.node_id).c_str(),
                      lease_value(options_.node_id).c_str());
  }
  for (const auto& [p, revision] : renewals) renew(p, revision);
  look_and_take();
}

void PartitionLeases::renew(uint32_t partition, uint64_t revision) {
  auto key = partition_key(partition);
  auto sent = std::chrono::steady_clock::now();
  uint64_t next = 0;
  natsStatus s = kvStore_UpdateString(&next, kv_, key.c_str(),
                                      lease_value(options_.node_id).c_str(), revision);
  std::string lost;
  if (s != NATS_OK) {
    kvEntry* entry = nullptr;
    natsStatus read = kvStore_Get(&entry, kv_, key.c_str());
    if (read == NATS_NOT_FOUND) {
      // Lapsed while renewals failed, and nobody took it: take it back (only
      // one node can: create). Had anyone written p's log meanwhile, the
      // log's fence refuses this node's next write.
      sent = std::chrono::steady_clock::now();
      s = kvStore_CreateString(&next, kv_, key.c_str(), lease_value(options_.node_id).c_str());
      if (s != NATS_OK) read = kvStore_Get(&entry, kv_, key.c_str());
    }
    if (read == NATS_OK && s != NATS_OK) {
      auto owner = lease_owner(kvEntry_ValueString(entry));
      if (owner == options_.node_id) {  // our own write, whose answer was lost
        next = kvEntry_Revision(entry);
        s = NATS_OK;
      } else {
        lost = "partition " + std::to_string(partition) + " was taken by " + owner;
      }
    }
    if (entry) kvEntry_Destroy(entry);
  }
  std::unique_lock lock(mu_);
  auto it = held_.find(partition);
  if (it == held_.end()) return;  // released meanwhile
  if (s == NATS_OK) it->second.revision = next, it->second.renewed = sent;
  if (lost.empty()) return;
  held_.erase(it);
  lock.unlock();
  log_line(LogLevel::error, "partitions", "partition lease lost", {{"why", lost}});
  if (options_.on_lost) options_.on_lost(partition, lost);
}

std::vector<std::string> PartitionLeases::preferred_owners() const {
  // Rendezvous with bounded load: partition by partition, the member with
  // the highest weight that has fewer than ceil(P / members) yet. Every
  // node computes the same from the same members, no member gets more
  // than its fair share, and a member joining or leaving moves few.
  std::vector<std::string> out(options_.partitions);
  if (members_.empty()) return out;
  auto cap = (options_.partitions + members_.size() - 1) / members_.size();
  std::map<std::string, size_t> load;
  for (uint32_t p = 0; p < options_.partitions; ++p) {
    std::string best;
    uint64_t best_weight = 0;
    for (const auto& [node, rounds] : members_) {
      if (load[node] >= cap) continue;
      auto w = rendezvous_weight(node, p);
      if (best.empty() || w > best_weight) best = node, best_weight = w;
    }
    ++load[best];
    out[p] = best;
  }
  return out;
}

void PartitionLeases::look_and_take() {
  // Every key's current value, as the bucket holds it now (expired ones
  // are gone; deleted ones left out).
  kvWatchOptions watch;
  kvWatchOptions_Init(&watch);
  watch.IgnoreDeletes = true;
  kvWatcher* watcher = nullptr;
  if (kvStore_WatchAll(&watcher, kv_, &watch) != NATS_OK) return;  // NATS away: next round
  std::set<std::string> members;
  std::map<uint32_t, std::string> owners;
  bool complete = false;
  for (;;) {
    kvEntry* entry = nullptr;
    if (kvWatcher_Next(&entry, watcher, 2000) != NATS_OK) break;
    if (!entry) {
      complete = true;
      break;
    }
    std::string_view key = kvEntry_Key(entry);
    if (key.substr(0, kMemberPrefix.size()) == kMemberPrefix)
      members.emplace(key.substr(kMemberPrefix.size()));
    else if (auto p = partition_in(key, options_.partitions))
      owners[*p] = lease_owner(kvEntry_ValueString(entry));
    kvEntry_Destroy(entry);
  }
  kvWatcher_Destroy(watcher);
  if (!complete) return;

  std::vector<uint32_t> take, hand_off;
  {
    std::lock_guard lock(mu_);
    std::map<std::string, int> seen;
    for (const auto& node : members) seen[node] = members_.count(node) ? members_[node] + 1 : 1;
    if (leaving_) seen.erase(options_.node_id);
    members_ = std::move(seen);
    owners_.clear();
    auto preferred_of = preferred_owners();
    for (uint32_t p = 0; p < options_.partitions; ++p) {
      auto owner = owners.find(p);
      const auto& preferred = preferred_of[p];
      if (owner == owners.end()) {
        int rounds = ++free_rounds_[p];
        if (!leaving_ && !held_.count(p) && (preferred == options_.node_id || rounds >= 3))
          take.push_back(p);
        continue;
      }
      free_rounds_.erase(p);
      if (owner->second != options_.node_id) {
        owners_[p] = owner->second;
        continue;
      }
      auto held = held_.find(p);
      if (held == held_.end() || held->second.handing_off || leaving_) continue;
      if (preferred != options_.node_id && members_[preferred] >= 2) {
        held->second.handing_off = true;
        hand_off.push_back(p);
      }
    }
  }
  for (auto p : take) {
    auto sent = std::chrono::steady_clock::now();
    uint64_t revision = 0;
    if (kvStore_CreateString(&revision, kv_, partition_key(p).c_str(),
                             lease_value(options_.node_id).c_str()) != NATS_OK)
      continue;  // another node was first
    {
      std::lock_guard lock(mu_);
      held_[p] = Held{revision, sent, false};
      free_rounds_.erase(p);
    }
    log_line(LogLevel::info, "partitions", "partition taken",
             {{"partition", static_cast<int64_t>(p)}});
    if (options_.on_taken) options_.on_taken(p);
  }
  for (auto p : hand_off) {
    log_line(LogLevel::info, "partitions", "handing a partition off to its preferred owner",
             {{"partition", static_cast<int64_t>(p)}});
    if (options_.on_handoff) options_.on_handoff(p);
  }
}

bool PartitionLeases::may_write(uint32_t partition) const {
  std::lock_guard lock(mu_);
  auto it = held_.find(partition);
  if (it == held_.end()) return false;
  // Nobody may take the key before ttl after the renewal's write, which
  // came after it was sent; less one renewal for the clocks' drift.
  return std::chrono::steady_clock::now() <
         it->second.renewed + options_.ttl - options_.renew_every;
}

std::optional<std::string> PartitionLeases::owner(uint32_t partition) const {
  std::lock_guard lock(mu_);
  if (held_.count(partition)) return options_.node_id;
  auto it = owners_.find(partition);
  if (it == owners_.end()) return std::nullopt;
  return it->second;
}

std::vector<uint32_t> PartitionLeases::held() const {
  std::lock_guard lock(mu_);
  std::vector<uint32_t> out;
  for (const auto& [p, held] : held_) out.push_back(p);
  return out;
}

PartitionFigures PartitionLeases::figures() const {
  std::lock_guard lock(mu_);
  PartitionFigures f;
  f.partitions = options_.partitions;
  f.members = static_cast<uint32_t>(members_.size());
  f.held = static_cast<uint32_t>(held_.size());
  f.owned_elsewhere = static_cast<uint32_t>(owners_.size());
  auto now = std::chrono::steady_clock::now();
  for (const auto& [member, rounds] : members_) f.member_ids.push_back(member);
  f.owners = owners_;
  for (const auto& [p, held] : held_) {
    double age = std::chrono::duration<double>(now - held.renewed).count();
    f.oldest_renewal_s = std::max(f.oldest_renewal_s, age);
    f.lease_age_s[p] = age;
    f.owners[p] = options_.node_id;
  }
  return f;
}

}  // namespace coach::actors
