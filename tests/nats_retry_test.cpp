// retry_while_jetstream_starts (wire/nats_connect.h): which failures are
// asked again while a cluster settles, and which are an answer.
#include <doctest/doctest.h>
#include <nats/nats.h>

#include "wire/nats_connect.h"

using namespace coach::actors;
using namespace std::chrono_literals;

namespace {

// A JetStream call that fails `failures` times with `status` and `code`,
// then succeeds; counts its calls.
struct FlakyCall {
  int failures;
  natsStatus status;
  int code;
  int calls = 0;
  int last_code = 0;
  int operator()() {
    ++calls;
    last_code = calls <= failures ? code : 0;
    return calls <= failures ? status : NATS_OK;
  }
};

int run(FlakyCall& call, bool with_code) {
  return retry_while_jetstream_starts(
      [&] { return call(); },
      with_code ? std::function<int()>([&] { return call.last_code; }) : nullptr, 5s);
}

}  // namespace

TEST_CASE("a JetStream call that times out is made again until it answers") {
  FlakyCall call{3, NATS_TIMEOUT, 0};
  CHECK(run(call, false) == NATS_OK);
  CHECK(call.calls == 4);
}

TEST_CASE("a stream or consumer create that fails while nodes race is made again") {
  for (int code : {10008, 10049, 10012}) {
    CAPTURE(code);
    FlakyCall call{2, NATS_ERR, code};
    CHECK(run(call, true) == NATS_OK);
    CHECK(call.calls == 3);
  }
}

TEST_CASE("other JetStream errors, no responders, or no code reader are answers at once") {
  FlakyCall insufficient{2, NATS_ERR, 10023};  // insufficient resources
  CHECK(run(insufficient, true) == NATS_ERR);
  CHECK(insufficient.calls == 1);
  FlakyCall no_responders{2, NATS_NO_RESPONDERS, 0};
  CHECK(run(no_responders, true) == NATS_NO_RESPONDERS);
  CHECK(no_responders.calls == 1);
  FlakyCall unread{2, NATS_ERR, 10049};
  CHECK(run(unread, false) == NATS_ERR);
  CHECK(unread.calls == 1);
}

TEST_CASE("a call that keeps timing out gives up after the bound") {
  int calls = 0;
  auto started = std::chrono::steady_clock::now();
  int s = retry_while_jetstream_starts(
      [&] {
        ++calls;
        return static_cast<int>(NATS_TIMEOUT);
      },
      nullptr, 600ms);
  CHECK(s == NATS_TIMEOUT);
  CHECK(calls >= 2);
  CHECK(std::chrono::steady_clock::now() - started >= 600ms);
}
