// Files that hold secrets (keys, tokens, NATS credentials) must be readable
// by their owner alone: one check and one message for all of coach.
#pragma once

#include <string>
#include <string_view>

#include "base/result.h"

namespace coach {

// Ok if `path` exists and neither group nor others may read, write or enter
// it. not_found if it is missing; permission_denied otherwise, saying
// "<what> <path> is readable by others: chmod 600 it" (700 for a directory).
Status check_owner_only(const std::string& path, std::string_view what);

// The whole text of an owner-only file (check_owner_only first); io_error
// if it cannot be read.
Result<std::string> read_owner_only(const std::string& path, std::string_view what);

}  // namespace coach
