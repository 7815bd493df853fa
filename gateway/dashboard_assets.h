// The ops dashboard's static files (dashboard/), built into coachd so that
// the node serves them itself, with no CDN and nothing to install.
#pragma once

#include <string_view>

#include "base/static_file.h"

namespace coach::actors {

// The file served at `path`, or null.
const StaticFile* find_dashboard_file(std::string_view path);

}  // namespace coach::actors
