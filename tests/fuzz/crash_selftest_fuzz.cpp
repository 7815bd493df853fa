// A fuzz target that is broken on purpose, built only to prove that
// scripts/fuzz.sh and its CTest entry fail when a target crashes
// (tests/fuzz/check_fuzz_script.sh). Its seed corpus holds the crashing
// input, so libFuzzer finds it at once: a heap buffer overflow that ASan
// reports.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size >= 6 && std::memcmp(data, "crash!", 6) == 0) {
    auto buffer = std::make_unique<char[]>(size);
    std::memcpy(buffer.get(), data, size);
    volatile char past_the_end = buffer[size];  // heap-buffer-overflow
    (void)past_the_end;
  }
  return 0;
}
