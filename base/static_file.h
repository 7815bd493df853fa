// A file built into a program (cmake/embed_files.cmake), served as it is:
// the ops dashboard in coachd, the web client in coach-gateway.
#pragma once

#include <string_view>

namespace coach {

struct StaticFile {
  std::string_view path;  // "/", "/app.js", ...
  std::string_view content_type;
  std::string_view body;
};

}  // namespace coach
