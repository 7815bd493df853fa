// The nudge writer against a real HTTP server standing in for the LLM:
// normal answers, answers slower than the timeout, HTTP 500, garbage JSON,
// offensive text; retries, the circuit breaker, token budgets, and that
// submitting never waits for the LLM.
#include <doctest/doctest.h>

#include <future>

#include "adapters/nudge_writer.h"
#include "llm_stub.h"

using namespace coach;
using namespace coach::actors;
using namespace std::chrono_literals;
using test::LlmMode;
using test::LlmStub;
using Steady = std::chrono::steady_clock;

namespace {

NudgeWriterOptions options_for(const LlmStub& stub) {
  NudgeWriterOptions o;
  o.llm.base_url = stub.url();
  o.llm.timeout = 300ms;
  o.workers = 2;
  o.backoff = 20ms;
  o.breaker_failures = 100;  // tests of the breaker lower it
  return o;
}

projections::NudgeContext context() {
  projections::NudgeContext c;
  c.trigger = projections::Trigger::deadline_approaching;
  c.title = "Quarterly report";
  c.due = "in 3 hours";
  c.pending = 4;
  return c;
}

// Writes one nudge and waits for it.
projections::WrittenNudge write(NudgeWriter& writer, Uuid user = Uuid::random(),
                                std::chrono::milliseconds deadline = 5s) {
  auto done = std::make_shared<std::promise<projections::WrittenNudge>>();
  auto result = done->get_future();
  writer.submit({user, context(), Steady::now() + deadline,
                 [done](projections::WrittenNudge w) { done->set_value(std::move(w)); }});
  REQUIRE(result.wait_for(10s) == std::future_status::ready);
  return result.get();
}

}  // namespace

TEST_CASE("a working LLM writes the nudge, its prompt is well formed") {
  LlmStub stub;
  NudgeWriter writer(options_for(stub));
  auto w = write(writer);
  CHECK(w.source == v1::NUDGE_SOURCE_LLM);
  CHECK(w.text.find("Stub coach says") == 0);
  CHECK(w.fallback_reason.empty());
  CHECK(stub.requests() == 1);
  auto stats = writer.stats();
  CHECK(stats.written_by_llm == 1);
  CHECK(stats.tokens_today == 120);
}

TEST_CASE("each way the LLM fails ends in the template, with its reason") {
  struct Case {
    LlmMode mode;
    const char* reason;
    int requests;  // attempts made
  };
  for (auto c :
       {Case{LlmMode::slow, "timeout", 3}, Case{LlmMode::error500, "unavailable", 3},
        Case{LlmMode::garbage, "bad answer", 1}, Case{LlmMode::offensive, "rejected", 1}}) {
    LlmStub stub(c.mode);
    NudgeWriter writer(options_for(stub));
    auto started = Steady::now();
    auto w = write(writer);
    auto took = Steady::now() - started;
    CAPTURE(c.reason);
    CHECK(w.source == v1::NUDGE_SOURCE_TEMPLATE);
    CHECK(w.fallback_reason == c.reason);
    CHECK(projections::check_text(w.text));
    CHECK(w.text.find("Quarterly report") != std::string::npos);
    CHECK(stub.requests() == c.requests);
    CHECK(took < 3s);  // 3 attempts x 300 ms timeout plus backoff
    CHECK(writer.stats().fallbacks.at(c.reason) == 1);
  }
}

TEST_CASE("the job's deadline bounds the wait, retries included") {
  LlmStub stub(LlmMode::slow);
  NudgeWriter writer(options_for(stub));
  auto started = Steady::now();
  auto w = write(writer, Uuid::random(), 150ms);
  CHECK(Steady::now() - started < 1s);
  CHECK(w.source == v1::NUDGE_SOURCE_TEMPLATE);
}

TEST_CASE("the breaker opens after failures in a row, stops calling, and closes again") {
  LlmStub stub(LlmMode::error500);
  auto o = options_for(stub);
  o.breaker_failures = 3;
  o.max_attempts = 1;
  o.breaker_cooldown = 300ms;
  NudgeWriter writer(o);
  for (int i = 0; i < 3; ++i) CHECK(write(writer).fallback_reason == "unavailable");
  CHECK(writer.stats().breaker == BreakerState::open);
  CHECK(writer.stats().breaker_opened == 1);
  for (int i = 0; i < 5; ++i) CHECK(write(writer).fallback_reason == "breaker open");
  CHECK(stub.requests() == 3);  // an open breaker does not call

  // Still failing after the cooldown: the one probe fails and it opens again.
  std::this_thread::sleep_for(350ms);
  CHECK(write(writer).fallback_reason == "unavailable");
  CHECK(stub.requests() == 4);
  CHECK(writer.stats().breaker == BreakerState::open);
  CHECK(writer.stats().breaker_opened == 2);

  // The LLM is back: after the cooldown the probe succeeds and closes it.
  stub.set_mode(LlmMode::normal);
  std::this_thread::sleep_for(350ms);
  auto w = write(writer);
  CHECK(w.source == v1::NUDGE_SOURCE_LLM);
  CHECK(writer.stats().breaker == BreakerState::closed);
  CHECK(write(writer).source == v1::NUDGE_SOURCE_LLM);
}

TEST_CASE("token budgets: per user and per node, per day") {
  LlmStub stub;
  auto o = options_for(stub);
  o.user_tokens_per_day = 400;  // one request estimates ~200 and costs 120
  o.node_tokens_per_day = 600;
  NudgeWriter writer(o);
  auto alice = Uuid::random(), bob = Uuid::random();
  CHECK(write(writer, alice).source == v1::NUDGE_SOURCE_LLM);
  CHECK(write(writer, alice).source == v1::NUDGE_SOURCE_LLM);
  CHECK(write(writer, alice).fallback_reason == "token budget");
  CHECK(write(writer, bob).source == v1::NUDGE_SOURCE_LLM);
  auto carol = Uuid::random();
  CHECK(write(writer, carol).source == v1::NUDGE_SOURCE_LLM);
  CHECK(write(writer, Uuid::random()).fallback_reason == "token budget");  // node: 480 + ~200 > 600
  CHECK(writer.stats().tokens_today == 480);
}

TEST_CASE("submitting never waits for the LLM, and without one templates answer at once") {
  std::atomic<int> done{0};  // outlives the writer, whose destructor answers what is queued
  LlmStub stub(LlmMode::slow);
  NudgeWriter writer(options_for(stub));
  auto started = Steady::now();
  for (int i = 0; i < 200; ++i)
    writer.submit({Uuid::random(), context(), Steady::now() + 5s,
                   [&](projections::WrittenNudge) { ++done; }});
  // A submit that waited for the LLM would wait for good (the stub hangs) or
  // at least to a job's 5 s deadline; the bound is that contract, not a speed.
  CHECK(Steady::now() - started < 2s);
  CHECK(done < 200);

  NudgeWriter none({});
  auto w = write(none);
  CHECK(w.source == v1::NUDGE_SOURCE_TEMPLATE);
  CHECK(w.fallback_reason == "no LLM configured");
}
