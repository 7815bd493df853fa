#include "events/wal_scan.h"

#include <rocksdb/write_batch.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>

namespace coach::events {
namespace {

// RocksDB's log format (db/log_format.h): 32 KiB blocks; each record has a
// 7-byte header: masked CRC32C of type and payload (4), length (2), type (1).
constexpr size_t kBlockSize = 32768;
constexpr size_t kHeaderSize = 7;
enum RecordType : uint8_t { kZero = 0, kFull = 1, kFirst = 2, kMiddle = 3, kLast = 4 };

const std::array<uint32_t, 256>& crc_table() {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;  // Castagnoli
      t[i] = c;
    }
    return t;
  }();
  return table;
}

uint32_t crc32c(const uint8_t* data, size_t size) {
  uint32_t crc = 0xffffffffu;
  for (size_t i = 0; i < size; ++i) crc = crc_table()[(crc ^ data[i]) & 0xff] ^ (crc >> 8);
  return crc ^ 0xffffffffu;
}

uint32_t unmask(uint32_t masked) {  // RocksDB's crc32c::Unmask
  uint32_t rot = masked - 0xa282ead8u;
  return (rot >> 17) | (rot << 15);
}

uint32_t le32(const uint8_t* p) {
  return p[0] | (p[1] << 8) | (p[2] << 16) | (static_cast<uint32_t>(p[3]) << 24);
}

// The events a WriteBatch appends, from their feed entries: the only keys of
// 8 bytes (a feed position) whose value is an events key, user(16) seq(8).
class FeedEntries : public rocksdb::WriteBatch::Handler {
 public:
  explicit FeedEntries(std::vector<LostEvent>& out) : out_(out) {}
  rocksdb::Status PutCF(uint32_t family, const rocksdb::Slice& key,
                        const rocksdb::Slice& value) override {
    if (family == 0 || key.size() != 8 || value.size() != 24) return rocksdb::Status::OK();
    auto user = Uuid::from_bytes(reinterpret_cast<const uint8_t*>(value.data()));
    uint64_t sequence = 0;
    for (size_t i = 16; i < 24; ++i)
      sequence = (sequence << 8) | static_cast<uint8_t>(value.data()[i]);
    out_.push_back({user, sequence});
    return rocksdb::Status::OK();
  }

 private:
  std::vector<LostEvent>& out_;
};

struct Scan {
  std::optional<WalDamage> damage;
  // A bad record not yet known to be mid-file: a bad tail of a file is a
  // torn write, which RocksDB recovers (also in older WALs).
  std::optional<uint64_t> suspect;
  std::string file;

  void start_file(const std::string& path) {
    file = path;
    suspect.reset();
  }
  void good_record() {
    if (suspect && !damage) damage = WalDamage{file, *suspect, {}, 0};
    suspect.reset();
  }
  void bad_record(uint64_t offset) {
    if (!suspect) suspect = offset;
  }
  void complete(const std::string& batch) {
    if (!damage) return;
    ++damage->lost_records;
    FeedEntries entries(damage->lost);
    rocksdb::WriteBatch(batch).Iterate(&entries);
  }
};

void scan_file(const std::vector<uint8_t>& data, Scan& scan) {
  std::string fragments;
  bool in_fragment = false;
  size_t pos = 0;
  while (pos < data.size()) {
    size_t left_in_block = kBlockSize - pos % kBlockSize;
    if (left_in_block < kHeaderSize) {  // a block's trailer: padding
      pos += left_in_block;
      continue;
    }
    if (data.size() - pos < kHeaderSize) break;  // a torn header at the end
    const uint8_t* header = data.data() + pos;
    size_t length = header[4] | (header[5] << 8);
    uint8_t type = header[6];
    if (type == kZero && length == 0) {  // preallocated, never written
      pos += left_in_block;
      continue;
    }
    if (pos + kHeaderSize + length > data.size()) {  // runs past the end: torn
      scan.bad_record(pos);
      break;
    }
    bool fits = kHeaderSize + length <= left_in_block;
    if (!fits || type > kLast || unmask(le32(header)) != crc32c(header + 6, length + 1)) {
      scan.bad_record(pos);
      in_fragment = false;
      // A damaged payload keeps its length: the next record follows it. A
      // damaged header does not: resynchronise at the next block.
      pos += fits && type <= kLast ? kHeaderSize + length : left_in_block;
      continue;
    }
    scan.good_record();
    std::string payload(reinterpret_cast<const char*>(header + kHeaderSize), length);
    pos += kHeaderSize + length;
    if (type == kFull) {
      scan.complete(payload);
      in_fragment = false;
    } else if (type == kFirst) {
      fragments = payload;
      in_fragment = true;
    } else if (in_fragment) {
      fragments += payload;
      if (type == kLast) {
        scan.complete(fragments);
        in_fragment = false;
      }
    }
  }
}

}  // namespace

Result<std::optional<WalDamage>> scan_wal(const std::string& store_dir) {
  std::map<uint64_t, std::filesystem::path> logs;  // by file number
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(store_dir, error)) {
    auto name = entry.path().filename().string();
    if (entry.path().extension() != ".log" || name.empty() || !std::isdigit(name[0])) continue;
    logs[std::stoull(name)] = entry.path();
  }
  if (error) return make_error(Errc::io_error, "cannot list " + store_dir + ": " + error.message());
  Scan scan;
  for (const auto& [number, path] : logs) {
    std::ifstream in(path, std::ios::binary);
    std::vector<uint8_t> data((std::istreambuf_iterator<char>(in)), {});
    if (!in.eof() && in.fail())
      return make_error(Errc::io_error, "cannot read WAL file " + path.string());
    scan.start_file(path.string());
    scan_file(data, scan);
  }
  return scan.damage;
}

std::string describe_loss(const WalDamage& damage) {
  std::map<std::string, uint64_t> first_by_user;
  for (const auto& e : damage.lost) {
    auto [at, fresh] = first_by_user.emplace(e.user.to_string(), e.sequence);
    if (!fresh) at->second = std::min(at->second, e.sequence);
  }
  std::string out = std::to_string(damage.lost.size()) + " acknowledged events of " +
                    std::to_string(first_by_user.size()) +
                    (first_by_user.size() == 1 ? " user" : " users");
  int shown = 0;
  for (const auto& [user, sequence] : first_by_user) {
    out += (shown ? ", " : " (") + user + " from sequence " + std::to_string(sequence);
    if (++shown == 3) break;
  }
  if (shown) out += first_by_user.size() > 3 ? ", ...)" : ")";
  return out;
}

}  // namespace coach::events
