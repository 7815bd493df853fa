#include "base/private_file.h"

#include <sys/stat.h>

#include <fstream>
#include <sstream>

namespace coach {

Status check_owner_only(const std::string& path, std::string_view what) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    return make_error(Errc::not_found, "no " + std::string(what) + " at " + path);
  if (st.st_mode & (S_IRWXG | S_IRWXO))
    return make_error(Errc::permission_denied, std::string(what) + " " + path +
                                                   " is readable by others: chmod " +
                                                   (S_ISDIR(st.st_mode) ? "700" : "600") + " it");
  return Ok{};
}

Result<std::string> read_owner_only(const std::string& path, std::string_view what) {
  if (auto ok = check_owner_only(path, what); !ok) return ok.error();
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  if (!in && !in.eof()) return make_error(Errc::io_error, "cannot read " + path);
  return text.str();
}

}  // namespace coach
