// Errors as values for coach's storage and domain layers.
//
// `Result<T>` holds either a T or an `Error` (a stable code plus a message a
// caller can act on). It is what crosses module borders below the actors,
// which convert it into caf::error or a wire reply at their edge.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace coach {

// Stable error codes. Their names (see errc_name) are part of coach's wire
// API: never rename or reuse one.
enum class Errc {
  invalid_argument,        // a malformed request: say which field and why
  empty_batch,             // an append with no events
  wrong_expected_version,  // optimistic concurrency check failed
  unknown_stream,          // no events stored for that user
  payload_too_large,       // an event over the documented size limit
  malformed_event,         // an event that does not decode or validate
  sequence_gap,            // sequences that do not follow the stream head
  user_mismatch,           // an event of another user in the batch
  corrupted,               // stored bytes fail their checksum or decoding
  io_error,                // the disk or RocksDB failed
  not_found,               // the entity asked for does not exist
  conflict,                // the command is illegal in the current state
  busy,                    // overloaded: retry later
  unauthenticated,         // no valid credentials
  permission_denied,       // valid credentials, not allowed
  unavailable,             // a dependency is down
  internal,                // a bug: report it
};

// The stable wire name of a code, e.g. "wrong_expected_version".
std::string_view errc_name(Errc code);

struct Error {
  Errc code;
  std::string message;
};

// Either a value or an Error. Deliberately small: has_value, value, error.
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}  // NOLINT: implicit by design

  bool has_value() const { return v_.index() == 0; }
  explicit operator bool() const { return has_value(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

// A Result without a value: success or an Error.
struct Ok {};
using Status = Result<Ok>;

inline Error make_error(Errc code, std::string message) {
  return Error{code, std::move(message)};
}

}  // namespace coach
