#include "tests/support.h"

#include <fstream>

#include <fcntl.h>
#include <google/protobuf/util/time_util.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace coach::test {

coach::Clock::time_point utc(const char* text) {
  google::protobuf::Timestamp t;
  if (!google::protobuf::util::TimeUtil::FromString(text, &t))
    throw std::invalid_argument(std::string("not an RFC 3339 time: ") + text);
  return coach::from_timestamp(t);
}

TempDir::TempDir() {
  auto pattern = (std::filesystem::temp_directory_path() / "coach-test-XXXXXX").string();
  if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

SmallDisk::SmallDisk(uint64_t bytes) {
  auto options = "size=" + std::to_string(bytes) + ",mode=0700";
  if (::mount("tmpfs", dir_.str().c_str(), "tmpfs", MS_NOSUID | MS_NODEV, options.c_str()) != 0)
    throw std::runtime_error("cannot mount a " + std::to_string(bytes >> 10) +
                             " KiB tmpfs for a disk-full test (" + std::strerror(errno) +
                             "); these tests need root, as CI has");
  mounted_ = true;
}

SmallDisk::~SmallDisk() {
  if (mounted_) ::umount2(dir_.str().c_str(), MNT_DETACH);
}

uint64_t SmallDisk::free_bytes() const {
  struct statvfs fs {};
  if (::statvfs(dir_.str().c_str(), &fs) != 0) return 0;
  return uint64_t(fs.f_bavail) * fs.f_frsize;
}

void SmallDisk::fill(uint64_t leave) {
  int fd = ::open((dir_.path() / "filler").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  if (fd < 0) throw std::runtime_error("cannot create the filler file");
  std::vector<char> block(4096, 'f');
  while (free_bytes() > leave && ::write(fd, block.data(), block.size()) > 0) {
  }
  ::close(fd);
}

void SmallDisk::release() {
  std::error_code ignored;
  std::filesystem::remove(dir_.path() / "filler", ignored);
}

const events::SecretKey& test_master_key() {
  static const events::SecretKey key = *events::SecretKey::from_hex(
      "7e57000000000000000000000000000000000000000000000000000000c0ac4e");
  return key;
}

std::unique_ptr<events::EventStore> open_test_store(const std::string& path, bool sync,
                                                    bool read_only) {
  events::StoreOptions options;
  options.path = path;
  options.master_key = test_master_key();
  options.sync = sync;
  options.read_only = read_only;
  auto store = events::EventStore::open(options);
  if (!store) throw std::runtime_error("cannot open the test store: " + error_of(store));
  return std::move(*store);
}

v1::TaskEvent task_created(const Uuid& user, uint64_t sequence, const std::string& title,
                           const std::string& idempotency_key) {
  v1::TaskEvent event;
  event.set_task_id(new_uuid_string());
  auto* created = event.mutable_task_created()->mutable_fields();
  created->set_title(title);
  created->set_category("test");
  events::stamp_envelope(event, user, sequence, coach::Clock::now(), idempotency_key);
  return event;
}

std::vector<v1::TaskEvent> task_batch(const Uuid& user, uint64_t version, size_t count,
                                      const std::string& title) {
  std::vector<v1::TaskEvent> batch;
  for (size_t i = 0; i < count; ++i)
    batch.push_back(task_created(user, version + 1 + i, title + " " + std::to_string(i)));
  return batch;
}

std::string write_secret(const TempDir& dir, const std::string& name, const std::string& text) {
  auto path = dir.str() + "/" + name;
  std::ofstream(path, std::ios::trunc) << text << "\n";
  std::filesystem::permissions(
      path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  return path;
}

}  // namespace coach::test
