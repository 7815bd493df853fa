#include "base/result.h"

namespace coach {

std::string_view errc_name(Errc code) {
  switch (code) {
    case Errc::invalid_argument:
      return "invalid_argument";
    case Errc::empty_batch:
      return "empty_batch";
    case Errc::wrong_expected_version:
      return "wrong_expected_version";
    case Errc::unknown_stream:
      return "unknown_stream";
    case Errc::payload_too_large:
      return "payload_too_large";
    case Errc::malformed_event:
      return "malformed_event";
    case Errc::sequence_gap:
      return "sequence_gap";
    case Errc::user_mismatch:
      return "user_mismatch";
    case Errc::corrupted:
      return "corrupted";
    case Errc::io_error:
      return "io_error";
    case Errc::not_found:
      return "not_found";
    case Errc::conflict:
      return "conflict";
    case Errc::busy:
      return "busy";
    case Errc::unauthenticated:
      return "unauthenticated";
    case Errc::permission_denied:
      return "permission_denied";
    case Errc::unavailable:
      return "unavailable";
    case Errc::internal:
      return "internal";
  }
  return "internal";
}

}  // namespace coach
