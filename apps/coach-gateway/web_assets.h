// The web client's static files (web/), built into coach-gateway so that
// its HTTP mapping serves them itself: nothing to install, nothing loaded
// from elsewhere.
#pragma once

#include <string_view>

#include "base/static_file.h"

namespace coach::apps {

// The file served at `path` ("/" is index.html), or null.
const StaticFile* find_web_file(std::string_view path);

}  // namespace coach::apps
