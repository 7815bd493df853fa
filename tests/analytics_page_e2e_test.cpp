// The analytics page end to end (issue 23): simulated trial users' logs in
// a real store, coachd and nats-server as processes, a full batch run, and
// the page in Debian's headless Chromium through chromedriver. The page's
// lines, cohort cells and intervals must be those of the report
// /api/analytics/metrics answers; a screenshot lands in build/test-artifacts/.
#include <doctest/doctest.h>
#include <google/protobuf/util/json_util.h>
#include <httplib.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "schema/commands.pb.h"
#include "simulator.h"
#include "tests/browser.h"
#include "tests/processes.h"
#include "tests/support.h"
#include "wire/auth.h"

using namespace coach;
using namespace std::chrono_literals;

namespace {

constexpr int kUsers = 40;
constexpr const char* kFrom = "2025-12-29";  // Monday of 2026-W01

// 40 trial users in four weekly cohorts (10 each, one coaching mode per
// seed), staying 2 to 4 weeks, so retention falls off.
void store_trial_users(const std::string& data_dir) {
  auto store = test::open_test_store(data_dir + "/events");
  for (int i = 0; i < kUsers; ++i) {
    sim::TrialSimOptions options;
    options.start += std::chrono::hours(24 * 7 * (i % 4));
    options.days = 7 * (2 + (i / 4) % 3);
    options.hold_back = 0.4;
    auto user = sim::simulate_trial_user(static_cast<uint64_t>(1000 + i), options);
    auto id = *Uuid::parse(user.events.front().user_id());
    REQUIRE(store->append(id, 0, user.events));
  }
}

void write_master_key(const std::string& path) {
  std::ofstream(path) << test::test_master_key().to_hex() << "\n";
  std::filesystem::permissions(
      path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
}

v1::MetricsReport report_of(const std::string& json) {
  v1::MetricsReport report;
  REQUIRE(google::protobuf::util::JsonStringToMessage(json, &report).ok());
  return report;
}

int count(test::Browser& browser, const std::string& selector) {
  // Rows of tables: a table with none says so in a row of its own.
  return static_cast<int>(browser
                              .run("return [...document.querySelectorAll(arguments[0])]"
                                   ".filter((e) => !e.querySelector('[data-empty]')).length;",
                                   selector)
                              .number_value());
}

}  // namespace

TEST_CASE("the analytics page draws the report: weekly lines, cohorts, trial intervals") {
  test::TempDir dir;
  auto data = dir.str() + "/data";
  store_trial_users(data);
  write_master_key(dir.str() + "/master.key");
  test::NatsServer nats(dir.str());
  test::Coachd coachd(data, nats.url(), {"--master-key-file", dir.str() + "/master.key"});
  auto signer = actors::TokenSigner::load(dir.str() + "/token.key", false);
  REQUIRE(signer);
  auto admin = signer->issue(Uuid::random(), v1::ROLE_ADMIN, 1h);
  auto analyst = signer->issue(Uuid::random(), v1::ROLE_ANALYST, 1h);
  auto user = signer->issue(Uuid::random(), v1::ROLE_USER, 1h);

  httplib::Client http(coachd.ops_url());
  auto get = [&](const std::string& path, const std::string& token) {
    httplib::Headers headers;
    if (!token.empty()) headers.emplace("Authorization", "Bearer " + token);
    auto res = http.Get(path, headers);
    REQUIRE(res);
    return std::make_pair(res->status, res->body);
  };
  std::string query = std::string("/api/analytics/metrics?from=") + kFrom + "T00:00:00Z";

  // Before a full run there is nothing to show; the roles hold already.
  CHECK(get(query, analyst).first == 503);
  CHECK(get(query, "").first == 401);
  CHECK(get(query, user).first == 403);
  CHECK(get(query, admin).first == 503);  // an admin may read them too

  test::Client client(nats.url(), dir.str() + "/token.key");
  auto batch = client.raw("coach.v1.admin.batch.run", R"({"full": true})",
                          {{"Authorization", "Bearer " + admin}});
  REQUIRE(batch);
  REQUIRE(!batch->has_error());
  auto deadline = std::chrono::steady_clock::now() + 60s;
  while (get(query, analyst).first == 503 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(200ms);
  auto answer = get(query, analyst);
  REQUIRE_MESSAGE(answer.first == 200, answer.second);
  auto report = report_of(answer.second);
  REQUIRE(report.users() == kUsers);
  REQUIRE(report.weeks_size() >= 4);
  REQUIRE(report.cohorts_size() == 4);
  REQUIRE(report.effects_size() >= 5);  // all, a trigger, four modes

  // Bad input and the k floor, over HTTP as over NATS.
  CHECK(get("/api/analytics/metrics?from=yesterday", analyst).first == 400);
  CHECK(get("/api/analytics/metrics?min_users=-3", analyst).first == 400);
  // A parameter it would not honour is refused, not ignored.
  auto unknown = get(query + "&to=2026-02-01T00:00:00Z", analyst);
  CHECK(unknown.first == 400);
  CHECK(unknown.second.find("unknown parameter to: only from and min_users") != std::string::npos);
  CHECK(get(query + "&user=" + new_uuid_string(), analyst).first == 400);
  CHECK(report_of(get(query + "&min_users=1", analyst).second).min_users() == 5);
  CHECK(report_of(get(query + "&min_users=11", analyst).second).cohorts_size() == 0);

  CHECK(report_of(get(query, admin).second).users() == kUsers);

  // One browser for both (each SUBCASE would run the set-up again).
  test::Browser browser(dir.str());
  {  // a user's token is refused on the sign-in form
    browser.open(coachd.ops_url() + "/analytics.html#token=" + user);
    auto error = browser.wait_text("login-error", [](const std::string& t) { return !t.empty(); });
    CHECK(error.find("permission_denied") != std::string::npos);
    CHECK(browser.run("return document.getElementById('panels').hidden;").bool_value());
  }

  {  // an analyst sees the report drawn
    browser.open(coachd.ops_url() + "/analytics.html#token=" + analyst);
    // 12 weeks back from the run hold no one: nothing drawn, nothing left out.
    REQUIRE(browser.wait_text("report-state", [](auto& t) { return t == "loaded"; }) == "loaded");
    CHECK(count(browser, "#weeks tr") == 0);
    CHECK(browser.run("return location.href;").string_value().find("token") == std::string::npos);

    browser.type("#from", kFrom);
    browser.click("#query button");
    // The click says 'loading' at once; 'loaded' is then this answer's.
    REQUIRE(browser.wait_text("report-state", [](auto& t) { return t == "loaded"; }) == "loaded");
    CHECK(browser.text("report-users") == "40");

    // One table row and one point of each line per week of the report.
    CHECK(count(browser, "#weeks tr") == report.weeks_size());
    int with_completion = 0;
    for (const auto& w : report.weeks()) with_completion += w.has_completion_rate();
    auto points = browser.run(
        "return [...document.querySelectorAll('#weekly-rates [data-series=completion_rate]')]"
        ".reduce((n, p) => n + (p.points ? p.points.numberOfItems : 1), 0);");
    CHECK(static_cast<int>(points.number_value()) == with_completion);
    auto first_active =
        browser.run("return document.querySelector('#weeks tr td:nth-child(3)').textContent;");
    CHECK(first_active.string_value() == std::to_string(report.weeks(0).active_users()));

    // The heatmap: a row per cohort, a shaded cell per retained share
    // (at most 12 weeks shown).
    CHECK(count(browser, "#cohorts tr") == 4);
    int cells = 0;
    for (const auto& c : report.cohorts()) cells += std::min(c.retained_size(), 12);
    auto shaded = browser.run(
        "return [...document.querySelectorAll('#cohorts td')].filter((td) => "
        "getComputedStyle(td).backgroundColor !== 'rgba(0, 0, 0, 0)').length;");
    CHECK(static_cast<int>(shaded.number_value()) == cells);  // the CSP lets the shading through
    auto first_cell = browser.run(
        "return [...document.querySelectorAll('#cohorts td')].find((td) => "
        "td.style.backgroundColor).textContent;");
    CHECK(first_cell.string_value() == "100%");

    // The forest plot: an interval per group that has one, a table row per group.
    int intervals = 0;
    for (const auto& e : report.effects()) intervals += e.has_low90();
    CHECK(intervals >= 5);
    CHECK(count(browser, "#effect-plot line.interval") == intervals);
    CHECK(count(browser, "#effects tr") == report.effects_size());
    auto all =
        browser.run("return document.querySelector('#effect-plot line.interval').dataset.group;");
    CHECK(all.string_value() == "all");
    // Drawn where the figures say: the estimate inside its interval, on the
    // side of the zero line its sign says.
    const auto& overall = report.effects(0);
    REQUIRE(overall.group() == "all");
    auto geometry = browser.run(
        "const i = document.querySelector('#effect-plot line.interval');"
        "const dot = document.querySelector('#effect-plot circle.estimate');"
        "const zero = document.querySelector('#effect-plot line.axis');"
        "return [i.x1.baseVal.value, dot.cx.baseVal.value, i.x2.baseVal.value,"
        " zero.x1.baseVal.value];");
    auto at = [&](int k) { return geometry.list_value().values(k).number_value(); };
    CHECK(at(0) < at(1));
    CHECK(at(1) < at(2));
    CHECK((overall.low90() > 0) == (at(0) > at(3)));
    CHECK((overall.high90() > 0) == (at(2) > at(3)));

    MESSAGE("screenshot: " << browser.save_screenshot(COACH_ARTIFACTS_DIR, "analytics"));

    // k above every group leaves nothing to draw.
    browser.type("#min-users", "500");
    browser.click("#query button");
    REQUIRE(browser.wait_text("report-state", [](auto& t) { return t == "loaded"; }) == "loaded");
    CHECK(browser.text("report-k") == "500");
    CHECK(count(browser, "#weeks tr") == 0);
    CHECK(count(browser, "#effect-plot line.interval") == 0);
  }
}
