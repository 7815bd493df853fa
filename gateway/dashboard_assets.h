// The ops dashboard's static files (dashboard/), built into coachd so that
// the node serves them itself, with no CDN and nothing to install.
#pragma once

#include <string_view>

namespace coach::actors {

struct StaticFile {
  std::string_view path;  // "/", "/dashboard.js", ...
  std::string_view content_type;
  std::string_view body;
};

// The file served at `path`, or null.
const StaticFile* find_dashboard_file(std::string_view path);

}  // namespace coach::actors
