// Secrets in files only their owner may read: bearer tokens, NATS
// credentials. A secret never goes on a command line, where any local user
// reads it in /proc/<pid>/cmdline.
#pragma once

#include <chrono>
#include <string>

#include "base/result.h"

namespace coach::apps {

// The file's first line, trimmed. not_found if it cannot be read,
// permission_denied if group or others may read it (the message says
// "chmod 600"), invalid_argument if it is empty.
Result<std::string> read_secret_file(const std::string& path);

// Writes `text` to `path` with mode 0600 through a temporary file renamed
// over it, so a reader sees the old or the new secret, never half of one.
Status write_secret_file(const std::string& path, const std::string& text);

// The file's modification time (zero if it is missing), to notice a renewal.
std::chrono::nanoseconds changed_at(const std::string& path);

}  // namespace coach::apps
