// EventStore's storage-fault handling (declared in event_store.h): fencing
// on the first I/O error, reopening once there is room, RocksDB's log kept
// off the disk, and Hold (store_hold.h).
//
// Why not RocksDB's own recovery: after a failed WAL write RocksDB 7.8
// resumes by writing the failed WAL buffer again (facebook/rocksdb#12448),
// which can leave a record twice, torn in the middle of the WAL; and its
// default LOG file, on the same full disk, aborts the process on the next
// line after a failed one (WritableFileWriter's "sync_without_flush_called_"
// assertion). A reopen instead starts a fresh WAL, and recovery drops the
// torn tail of the failed write, which was never acknowledged.
#include <rocksdb/db.h>
#include <rocksdb/listener.h>
#include <sys/statvfs.h>

#include <cstdarg>
#include <cstdio>
#include <filesystem>

#include "events/store_hold.h"

namespace coach::events {
namespace {

thread_local const EventStore* t_held = nullptr;

// RocksDB's info log as lines for StoreOptions::log, warnings and up.
class LineLogger : public rocksdb::Logger {
 public:
  using Sink = std::function<void(StoreLogLevel, bool, std::string_view)>;
  explicit LineLogger(Sink sink)
      : rocksdb::Logger(rocksdb::InfoLogLevel::WARN_LEVEL), sink_(std::move(sink)) {}
  using rocksdb::Logger::Logv;
  void Logv(const char* format, va_list ap) override {
    if (!sink_) return;
    char line[1024];
    int n = std::vsnprintf(line, sizeof line, format, ap);
    if (n <= 0) return;
    std::string_view text(line, std::min<size_t>(size_t(n), sizeof line - 1));
    bool error = text.rfind("[ERROR]", 0) == 0 || text.rfind("[FATAL]", 0) == 0;
    sink_(error ? StoreLogLevel::error : StoreLogLevel::warning, true, text);
  }

 private:
  Sink sink_;
};

}  // namespace

// Tells the store of RocksDB's background errors (a failed flush or WAL
// write) and turns RocksDB's own recovery off.
class EventStore::Listener : public rocksdb::EventListener {
 public:
  explicit Listener(const EventStore& store) : store_(store) {}
  void OnBackgroundError(rocksdb::BackgroundErrorReason, rocksdb::Status* error) override {
    if (error && error->IsIOError())
      store_.fence(store_.without_path("a write failed: " + error->ToString()));
  }
  void OnErrorRecoveryBegin(rocksdb::BackgroundErrorReason, rocksdb::Status,
                            bool* auto_recovery) override {
    if (auto_recovery) *auto_recovery = false;
  }

 private:
  const EventStore& store_;
};

EventStore::Hold::Hold(const EventStore& store) : store_(store) {
  if (t_held == &store) {
    nested_ = true;
    return;
  }
  store.db_mu_.lock_shared();
  outer_ = t_held;
  t_held = &store;
}

EventStore::Hold::~Hold() {
  if (nested_) return;
  t_held = outer_;
  store_.db_mu_.unlock_shared();
}

Error EventStore::Hold::error() const {
  return make_error(Errc::io_error,
                    "the event store is not open: " + store_.write_fault().value_or("reopening"));
}

void EventStore::configure_faults(rocksdb::Options& db_options) const {
  db_options.info_log = std::make_shared<LineLogger>(options_.log);
  db_options.listeners.push_back(std::make_shared<Listener>(*this));
  db_options.max_bgerror_resume_count = 0;  // no automatic Resume()
}

std::string EventStore::without_path(std::string text) const {
  std::string dir = options_.path + "/";
  for (auto at = text.find(dir); at != std::string::npos; at = text.find(dir, at))
    text.erase(at, dir.size());
  for (auto at = text.find(options_.path); at != std::string::npos;
       at = text.find(options_.path, at))
    text.replace(at, options_.path.size(), "the store");
  return text;
}

Error EventStore::read_failed(const rocksdb::Status& s, std::string_view what) const {
  return make_error(Errc::io_error, without_path(std::string(what) + ": " + s.ToString()));
}

Error EventStore::write_failed(const rocksdb::Status& s, std::string_view what) const {
  auto error = read_failed(s, what);
  if (s.IsIOError()) fence(error.message);
  return error;
}

void EventStore::fence(std::string reason) const {
  {
    std::lock_guard lock(fault_mu_);
    if (fenced_.load()) return;  // the first fault is the one to report
    fault_ = reason;
    fenced_.store(true);
  }
  if (options_.log)
    options_.log(StoreLogLevel::error, false, "the store stopped writing: " + reason);
}

std::optional<std::string> EventStore::write_fault() const {
  if (!fenced_.load(std::memory_order_acquire)) return std::nullopt;
  std::lock_guard lock(fault_mu_);
  return fault_;
}

Status EventStore::check_writable() const {
  if (!fenced_.load(std::memory_order_acquire)) return Ok{};
  return make_error(Errc::io_error, "the event store is not writable (" +
                                        write_fault().value_or("") +
                                        "); writes resume by themselves once the disk has room");
}

Status EventStore::open_db_or_fence() {
  auto opened = open_db(options_.read_only);
  if (opened || options_.read_only || !open_lacked_space_) return opened;
  // No room for the recovery's flush: serve what is stored read-only, and
  // let the healer open it for writing once there is room. (Any other
  // failure, a store held by another process say, refuses the open.)
  close_db();
  if (auto read_only = open_db(true); !read_only) return opened;
  fence(without_path(opened.error().message));
  return Ok{};
}

void EventStore::close_db() {
  if (!db_) return;
  for (auto* h : handles_) db_->DestroyColumnFamilyHandle(h);
  handles_.clear();
  db_->Close().PermitUncheckedError();  // after a fault Close reports it again
  db_.reset();
}

bool EventStore::room_to_resume() const {
  struct statvfs fs {};
  if (::statvfs(options_.path.c_str(), &fs) != 0) return false;
  uint64_t free_bytes = uint64_t(fs.f_bavail) * fs.f_frsize;
  uint64_t wal_bytes = 0;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(options_.path, error))
    if (entry.path().extension() == ".log") wal_bytes += entry.file_size(error);
  // The reopen replays the WAL into memtables and flushes them: room for
  // about the WAL again, and a margin for the new WAL and MANIFEST.
  return free_bytes >= wal_bytes + options_.resume_free_bytes;
}

void EventStore::heal_loop() {
  std::unique_lock lock(heal_mu_);
  while (!heal_stopping_) {
    heal_cv_.wait_for(lock, options_.resume_check);
    if (heal_stopping_ || !fenced_.load()) continue;
    lock.unlock();
    if (room_to_resume()) reopen();
    lock.lock();
  }
}

void EventStore::stop_healer() {
  {
    std::lock_guard lock(heal_mu_);
    heal_stopping_ = true;
  }
  heal_cv_.notify_all();
  if (healer_.joinable()) healer_.join();
}

void EventStore::reopen() {
  std::unique_lock lock(db_mu_);  // no call is inside the database now
  close_db();
  auto opened = open_db(false);
  Result<uint64_t> head = opened ? load_feed_head() : Result<uint64_t>(opened.error());
  if (!head) {
    close_db();
    if (!open_db(true) && options_.log)
      options_.log(StoreLogLevel::error, false,
                   "the store cannot be opened at all: " + head.error().message);
    return;  // still fenced; the next check tries again
  }
  reset_writer(*head);
  {
    std::lock_guard fault_lock(fault_mu_);
    fault_.clear();
    fenced_.store(false);
  }
  resumes_.fetch_add(1);
  if (options_.log)
    options_.log(StoreLogLevel::warning, false, "the store writes again (reopened after a fault)");
}

}  // namespace coach::events
