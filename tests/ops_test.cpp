// The pure parts of operations: histograms, the Prometheus text format, the
// JSON log line and per-operation command figures.
#include <doctest/doctest.h>
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <cstring>
#include <set>
#include <sstream>

#include "base/histogram.h"
#include "ops/command_metrics.h"
#include "ops/prometheus.h"
#include "wire/api_codec.h"
#include "wire/log.h"

using namespace coach;
using namespace std::chrono_literals;

namespace {

google::protobuf::Struct parse_json(const std::string& text) {
  google::protobuf::Struct out;
  auto status = google::protobuf::util::JsonStringToMessage(text, &out);
  REQUIRE_MESSAGE(status.ok(), text);
  return out;
}

// The lines of `text` that start with `prefix`.
std::vector<std::string> lines_with(const std::string& text, const std::string& prefix) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (line.rfind(prefix, 0) == 0) out.push_back(line);
  return out;
}

}  // namespace

TEST_CASE("a histogram puts each value in the first bucket whose bound holds it") {
  coach::Histogram h({1, 2, 4});
  for (double v : {0.5, 1.0, 1.5, 4.0, 9.0, 100.0}) h.observe(v);
  auto s = h.snapshot();
  REQUIRE(s.counts.size() == 4);
  CHECK(s.counts == std::vector<uint64_t>{2, 1, 1, 2});  // le 1, le 2, le 4, above
  CHECK(s.count == 6);
  CHECK(s.sum == doctest::Approx(116.0));
}

TEST_CASE("command figures count replies and errors per operation, unknown names share one") {
  actors::CommandMetrics m;
  auto create = m.slot("task.create");
  CHECK(m.slot("no.such.op") == m.slot(actors::CommandMetrics::kInvalid));
  CHECK(create != m.slot("task.list"));
  // A row's slot is its index, the same as by its name.
  for (const auto& row : actors::operation_table()) CHECK(m.slot(&row) == m.slot(row.name));
  CHECK(m.slot(static_cast<const actors::Operation*>(nullptr)) == m.slot("no.such.op"));
  m.record(create, false, 2ms);
  m.record(create, true, 300us);
  m.record(m.slot("bogus"), true, 1ms);
  auto figures = m.snapshot();
  auto find = [&](const std::string& op) {
    for (const auto& f : figures)
      if (f.operation() == op) return f;
    FAIL("no figures for " << op);
    return v1::CommandFigures{};
  };
  auto c = find("task.create");
  CHECK(c.count() == 2);
  CHECK(c.errors() == 1);
  CHECK(c.seconds().sum() == doctest::Approx(0.0023));
  CHECK(find("invalid").count() == 1);
  CHECK(find("task.list").count() == 0);
}

TEST_CASE("the Prometheus text has HELP and TYPE, cumulative buckets, _sum, _count and labels") {
  v1::OpsSnapshot s;
  s.set_ready(true);
  s.mutable_node()->set_resident_actors(7);
  s.mutable_node()->set_llm_breaker("open");
  (*s.mutable_restarts_by_reason())["exit_reason(kill)"] = 2;
  (*s.mutable_restarts_by_reason())["a \"quoted\"\\reason\n"] = 1;
  auto* c = s.add_commands();
  c->set_operation("task.create");
  c->set_count(3);
  c->set_errors(1);
  auto* h = c->mutable_seconds();
  for (double b : {0.001, 0.01}) h->add_upper_bounds(b);
  for (uint64_t n : {1, 2, 0}) h->add_counts(n);
  h->set_sum(0.012);
  h->set_count(3);
  auto text = actors::prometheus_text(s);

  CHECK(lines_with(text, "# TYPE coach_command_duration_seconds histogram").size() == 1);
  CHECK(lines_with(text, "# TYPE coach_commands_total counter").size() == 1);
  CHECK(lines_with(text, "# HELP coach_actors_resident ").size() == 1);
  CHECK(lines_with(text, "coach_actors_resident 7").size() == 1);
  CHECK(lines_with(text, "coach_ready 1").size() == 1);
  auto buckets =
      lines_with(text, "coach_command_duration_seconds_bucket{operation=\"task.create\"");
  REQUIRE(buckets.size() == 3);
  CHECK(buckets[0] ==
        "coach_command_duration_seconds_bucket{operation=\"task.create\",le=\"0.001\"} 1");
  CHECK(buckets[1] ==
        "coach_command_duration_seconds_bucket{operation=\"task.create\",le=\"0.01\"} 3");
  CHECK(buckets[2] ==
        "coach_command_duration_seconds_bucket{operation=\"task.create\",le=\"+Inf\"} 3");
  CHECK(lines_with(text, "coach_command_duration_seconds_count{operation=\"task.create\"} 3")
            .size() == 1);
  CHECK(lines_with(text, "coach_command_duration_seconds_sum{operation=\"task.create\"} 0.012")
            .size() == 1);
  CHECK(lines_with(text, "coach_command_errors_total{operation=\"task.create\"} 1").size() == 1);
  CHECK(lines_with(text, "coach_actor_restarts_total{reason=\"exit_reason(kill)\"} 2").size() == 1);
  // Label values escape backslash, quote and newline.
  CHECK(
      lines_with(text, R"(coach_actor_restarts_total{reason="a \"quoted\"\\reason\n"} 1)").size() ==
      1);
  CHECK(lines_with(text, "coach_llm_breaker_state{state=\"open\"} 1").size() == 1);
  CHECK(lines_with(text, "coach_llm_breaker_state{state=\"closed\"} 0").size() == 1);
  // Every sample line belongs to a family declared before it.
  std::istringstream in(text);
  std::set<std::string> declared;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("# TYPE ", 0) == 0) {
      declared.insert(line.substr(7, line.find(' ', 7) - 7));
      continue;
    }
    if (line.empty() || line[0] == '#') continue;
    auto name = line.substr(0, line.find_first_of("{ "));
    bool known = declared.count(name) > 0;
    for (const char* suffix : {"_bucket", "_sum", "_count"})
      if (!known && name.size() > strlen(suffix) &&
          name.compare(name.size() - strlen(suffix), std::string::npos, suffix) == 0)
        known = declared.count(name.substr(0, name.size() - strlen(suffix))) > 0;
    CHECK_MESSAGE(known, line);
  }
}

TEST_CASE("a log line is one JSON object with time, level, component, message and fields") {
  auto line = actors::format_log_line(actors::LogLevel::warn, "registry", "actor \"restarted\"\n",
                                      {{"user", "u-1"},
                                       {"count", int64_t{3}},
                                       {"ratio", 0.5},
                                       {"ok", true},
                                       {"text", std::string("tab\there")}});
  CHECK(line.find('\n') == std::string::npos);
  auto json = parse_json(line);
  const auto& f = json.fields();
  CHECK(f.at("level").string_value() == "warn");
  CHECK(f.at("component").string_value() == "registry");
  CHECK(f.at("msg").string_value() == "actor \"restarted\"\n");
  CHECK(f.at("user").string_value() == "u-1");  // a string literal stays a string
  CHECK(f.at("count").number_value() == 3);
  CHECK(f.at("ratio").number_value() == 0.5);
  CHECK(f.at("ok").bool_value());
  CHECK(f.at("text").string_value() == "tab\there");
  auto ts = f.at("ts").string_value();
  CHECK(ts.size() == 24);
  CHECK(ts.back() == 'Z');
}

TEST_CASE("log levels filter: below the level nothing is written") {
  CHECK(actors::parse_log_level("warn") == actors::LogLevel::warn);
  CHECK_FALSE(actors::parse_log_level("loud"));
  actors::set_log_level(actors::LogLevel::warn);
  CHECK_FALSE(actors::log_enabled(actors::LogLevel::info));
  CHECK(actors::log_enabled(actors::LogLevel::error));
  actors::set_log_level(actors::LogLevel::info);
  CHECK(actors::log_enabled(actors::LogLevel::info));
  CHECK_FALSE(actors::log_enabled(actors::LogLevel::debug));
}

TEST_CASE("valid_utf8 keeps well-formed text and escapes each byte of a bad sequence") {
  using actors::valid_utf8;
  CHECK(valid_utf8("plain") == "plain");
  CHECK(valid_utf8("h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x98\x80") ==
        "h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x98\x80");  // é € 😀
  CHECK(valid_utf8("a\xFF"
                   "b") ==
        "a\\xFF"
        "b");                                                       // never a lead byte
  CHECK(valid_utf8("\x80") == "\\x80");                             // a stray continuation
  CHECK(valid_utf8("\xC0\xAF") == "\\xC0\\xAF");                    // overlong '/'
  CHECK(valid_utf8("\xED\xA0\x80") == "\\xED\\xA0\\x80");           // a surrogate
  CHECK(valid_utf8("\xF4\x90\x80\x80") == "\\xF4\\x90\\x80\\x80");  // past U+10FFFF
  CHECK(valid_utf8("cut \xE2\x82") == "cut \\xE2\\x82");            // cut at the end
  CHECK(valid_utf8(std::string("nul\0ok", 6)) == std::string("nul\0ok", 6));  // NUL is UTF-8
}
