#include "apps/common/secret_file.h"
#include "base/private_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <fstream>

namespace coach::apps {

Result<std::string> read_secret_file(const std::string& path) {
  auto text = coach::read_owner_only(path, "secret file");
  if (!text) return text.error();
  std::string secret = text->substr(0, text->find('\n'));
  while (!secret.empty() && std::isspace(static_cast<unsigned char>(secret.back())))
    secret.pop_back();
  if (secret.empty())
    return make_error(Errc::invalid_argument, "secret file " + path + " is empty");
  return secret;
}

Status write_secret_file(const std::string& path, const std::string& text) {
  std::string temporary = path + ".new";
  int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return make_error(Errc::io_error, "cannot write " + temporary);
  ::fchmod(fd, 0600);
  bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  written = ::fsync(fd) == 0 && written;
  ::close(fd);
  if (!written || std::rename(temporary.c_str(), path.c_str()) != 0) {
    std::remove(temporary.c_str());
    return make_error(Errc::io_error, "cannot write " + path);
  }
  return Ok{};
}

std::chrono::nanoseconds changed_at(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return {};
  return std::chrono::seconds(st.st_mtim.tv_sec) + std::chrono::nanoseconds(st.st_mtim.tv_nsec);
}

}  // namespace coach::apps
