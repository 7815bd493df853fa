// The LLM stub as a process, for tests and benchmarks that run coachd:
//   llm_stub_server --port N [--mode normal|slow|500|garbage|offensive] [--delay-ms D]
// Prints "listening <port>" once ready; runs until killed.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "llm_stub.h"

int main(int argc, char** argv) {
  int port = 0;
  long delay = 0;
  coach::test::LlmMode mode = coach::test::LlmMode::normal;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--port")
      port = std::atoi(argv[i + 1]);
    else if (flag == "--delay-ms")
      delay = std::atol(argv[i + 1]);
    else if (flag == "--mode" && coach::test::parse_llm_mode(argv[i + 1], &mode))
      continue;
    else {
      std::fprintf(stderr, "usage: llm_stub_server --port N [--mode M] [--delay-ms D]\n");
      return 2;
    }
  }
  coach::test::LlmStub stub(mode, std::chrono::milliseconds(delay), port);
  std::printf("listening %d\n", stub.port());
  std::fflush(stdout);
  stub.wait();
}
