// Helpers shared by coach's tests: temporary directories and event builders.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "base/ids.h"
#include "events/crypto.h"
#include "events/envelope.h"
#include "events/event_store.h"
#include "schema/events.pb.h"

namespace coach::test {

// A fresh directory under the system temp dir, removed with its contents.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::string str() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

// A file system of its own: a tmpfs of `bytes` mounted on a fresh directory,
// for disk-full tests; unmounted and removed with the object. Mounting needs
// root (CI runs as root); without it the constructor throws, failing the
// test case with that reason rather than skipping it.
class SmallDisk {
 public:
  explicit SmallDisk(uint64_t bytes);
  ~SmallDisk();
  SmallDisk(const SmallDisk&) = delete;
  SmallDisk& operator=(const SmallDisk&) = delete;
  const std::filesystem::path& path() const { return dir_.path(); }
  std::string str() const { return dir_.str(); }
  uint64_t free_bytes() const;
  // Writes a filler file until at most `leave` bytes are free (0: until the
  // file system says it is full).
  void fill(uint64_t leave = 0);
  // Deletes the filler: the room it took is free again.
  void release();

 private:
  TempDir dir_;
  bool mounted_ = false;
};

// Writes `text` to <dir>/<name> with mode 0600 (a secret tools read from a
// file, never from their command line); returns the path.
std::string write_secret(const TempDir& dir, const std::string& name, const std::string& text);

// The error message of a Result, or "" when it holds a value; safe to use in
// doctest messages, which are evaluated even when the check passes.
template <class T>
std::string error_of(const Result<T>& result) {
  return result ? std::string()
                : std::string(errc_name(result.error().code)) + ": " + result.error().message;
}

// The master key of every store the tests open (fixed, so reopening works).
const events::SecretKey& test_master_key();

// The event store at `path` with the test master key; throws (a failed test
// case) with the store's error when it cannot be opened.
std::unique_ptr<events::EventStore> open_test_store(const std::string& path, bool sync = false,
                                                    bool read_only = false);

// An instant from RFC 3339 text ("2026-03-02T10:00:00Z"); throws on bad text.
coach::Clock::time_point utc(const char* text);

// A TaskCreated event for `user` at `sequence`, with a fresh task id.
v1::TaskEvent task_created(const Uuid& user, uint64_t sequence, const std::string& title,
                           const std::string& idempotency_key = {});

// `count` TaskCreated events following `version`.
std::vector<v1::TaskEvent> task_batch(const Uuid& user, uint64_t version, size_t count,
                                      const std::string& title = "task");

}  // namespace coach::test
