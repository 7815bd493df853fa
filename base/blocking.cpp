#include "base/blocking.h"

namespace coach {
namespace {
thread_local bool nonblocking = false;
}  // namespace

void mark_thread_nonblocking(bool on) {
  nonblocking = on;
}
bool thread_is_nonblocking() {
  return nonblocking;
}

}  // namespace coach
