// The web client end to end (issue 19): nats-server, coachd and
// coach-gateway as processes, the page opened in Debian's headless Chromium
// through WebDriver and used as a person would: sign in with a token, set
// work hours, add a task with a natural due date, see it on the timeline in
// the user's own zone (not the browser's), accept a block, get a nudge live
// and rate it. What the page shows is checked against coach over NATS;
// screenshots land in build/test-artifacts/.
#include <date/tz.h>
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <thread>

#include "base/time.h"
#include "tests/browser.h"
#include "tests/processes.h"
#include "tests/support.h"
#include "wire/auth.h"

using namespace coach;
using namespace std::chrono_literals;

namespace {

constexpr const char* kZone = "America/New_York";  // the browser runs in UTC

struct WebSetup {
  test::TempDir dir;
  test::NatsServer nats{dir.str()};
  test::Coachd coachd{dir.str() + "/node", nats.url()};
  test::Process gateway{
      COACH_GATEWAY,
      {"--plaintext", "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0", "--nats-url",
       nats.url(), "--nats-creds", nats.creds(actors::BusRole::gateway)},
      dir.str() + "/gateway.log"};
  test::Client client{nats.url(), dir.str() + "/token.key"};
  std::string user = new_uuid_string();

  std::string url() {
    REQUIRE_MESSAGE(gateway.wait_for_log("\"msg\":\"ready\"", 20s), gateway.log());
    return test::log_value(gateway.log(), "http");
  }
  std::string token() {
    auto signer = actors::TokenSigner::load(dir.str() + "/token.key", false);
    REQUIRE(signer);
    return signer->issue(*Uuid::parse(user), v1::ROLE_USER, std::chrono::hours(1));
  }
  v1::Reply ask(const std::string& operation, const std::string& body = "{}") {
    auto reply = client.request(operation, body, user);
    REQUIRE_MESSAGE(reply, test::error_of(reply));
    REQUIRE_MESSAGE(!reply->has_error(), reply->error().message());
    return *reply;
  }
};

// "HH:MM" of `t` in kZone, as the page must show it.
std::string local_clock(const google::protobuf::Timestamp& t) {
  auto at = date::make_zoned(kZone, date::sys_seconds(std::chrono::seconds(t.seconds())));
  return date::format("%H:%M", date::floor<std::chrono::minutes>(at.get_local_time()));
}

// Tomorrow at `hour`:00 in kZone, as a Unix time.
int64_t tomorrow_at(int hour) {
  auto now =
      date::make_zoned(kZone, date::floor<std::chrono::seconds>(std::chrono::system_clock::now()));
  auto day = date::floor<date::days>(now.get_local_time()) + date::days(1);
  auto at = date::make_zoned(kZone, day + std::chrono::hours(hour));
  return at.get_sys_time().time_since_epoch().count();
}

// Every input and select has a label, every button a name: what a screen
// reader needs; and nothing is wider than the window.
constexpr const char* kAccessible = R"(
  const unnamed = [];
  for (const e of document.querySelectorAll('input, select, textarea'))
    if (e.offsetParent !== null && !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
      unnamed.push(e.outerHTML.slice(0, 80));
  for (const b of document.querySelectorAll('button'))
    if (b.offsetParent !== null && !(b.textContent.trim() || b.getAttribute('aria-label')))
      unnamed.push(b.outerHTML.slice(0, 80));
  if (document.documentElement.scrollWidth > window.innerWidth + 1)
    unnamed.push('wider than the window: ' + document.documentElement.scrollWidth);
  return unnamed.join('\n');)";

}  // namespace

TEST_CASE("a person uses the web client: tasks, timeline, accept, live nudge, rating") {
  WebSetup s;
  auto url = s.url();
  test::Browser browser(s.dir.str());
  auto check_accessible = [&](const char* where) {
    CHECK_MESSAGE(browser.run(kAccessible).string_value() == "", where);
  };

  // The token in the address signs in and leaves it; a new user registers.
  browser.open(url + "/#token=" + s.token());
  REQUIRE(browser.wait_until("return !document.getElementById('register').hidden;"));
  CHECK(browser.run("return location.href;").string_value().find("token") == std::string::npos);
  check_accessible("register");
  browser.type("#register-zone", kZone);
  browser.click("#register button[type=submit]");
  REQUIRE(browser.wait_until("return !document.getElementById('nav').hidden;"));
  CHECK(s.ask("user.get").profile().user().timezone() == kZone);

  // Preferences: work hours every day, all day, so that a block fits
  // before tomorrow's due whatever the hour the test runs.
  browser.click("#nav button[data-view=preferences]");
  REQUIRE(browser.wait_until("return document.getElementById('pref-zone').value !== '';"));
  check_accessible("preferences");
  browser.type("#pref-work", "daily 00:00-24:00");
  browser.click("#preferences button[type=submit]");
  browser.wait_text("status", [](auto& t) { return t.find("saved") != std::string::npos; });
  CHECK(s.ask("preferences.get").profile().user().work_hours().windows_size() == 7);

  // A task with a natural due date, read in the user's zone.
  browser.click("#nav button[data-view=tasks]");
  browser.type("#new-title", "Write the report");
  browser.type("#new-due", "tomorrow 17:00");
  CHECK(
      browser
          .wait_text("new-due-shown", [](auto& t) { return t.find("17:00") != std::string::npos; })
          .find("17:00") != std::string::npos);
  browser.type("#new-estimate", "90");
  browser.click("#add-task button[type=submit]");
  CHECK(browser
            .wait_text("open-tasks",
                       [](auto& t) { return t.find("Write the report") != std::string::npos; })
            .find("due ") != std::string::npos);
  auto listed = s.ask("task.list").task_list();
  REQUIRE(listed.tasks_size() == 1);
  CHECK(listed.tasks(0).due_at().seconds() == tomorrow_at(17));
  CHECK(listed.tasks(0).estimated_minutes() == 90);
  auto task_id = listed.tasks(0).id();

  // Bad input: a date coach does not understand is refused on the page,
  // with why, and nothing is created.
  browser.type("#new-title", "Someday maybe");
  browser.type("#new-due", "someday");
  browser.click("#add-task button[type=submit]");
  CHECK(browser.wait_text("error", [](auto& t) { return !t.empty(); })
            .find("not a date coach understands") != std::string::npos);
  CHECK(s.ask("task.list").task_list().tasks_size() == 1);
  check_accessible("tasks");
  MESSAGE("screenshot: " << browser.save_screenshot(COACH_ARTIFACTS_DIR, "web-tasks"));

  // Delete and restore, from the page.
  browser.click("#open-tasks button[aria-label='Delete Write the report']");
  browser.run("document.querySelectorAll('details').forEach(d => d.open = true);");
  REQUIRE(
      browser.wait_until("return !!document.querySelector(\"#deleted-tasks "
                         "button[aria-label='Restore Write the report']\");"));
  browser.click("#deleted-tasks button[aria-label='Restore Write the report']");
  REQUIRE(browser.wait_until(
      "return !!document.querySelector(\"#open-tasks [data-task='\" + arguments[0] + \"']\");",
      task_id));
  CHECK(s.ask("task.get", R"({"task_id": ")" + task_id + "\"}").task().status() ==
        v1::TASK_STATUS_PENDING);

  // A second task, made elsewhere (over NATS): edited, snoozed, done and
  // reopened from the page.
  auto other = s.ask("task.create", R"({"title": "Call the dentist", "estimated_minutes": 30,
                                        "due_at": ")" +
                                        format_time(std::chrono::system_clock::now() + 72h) + "\"}")
                   .task()
                   .id();
  auto other_task = [&] { return s.ask("task.get", R"({"task_id": ")" + other + "\"}").task(); };
  browser.click("#nav button[data-view=today]");
  browser.click("#nav button[data-view=tasks]");
  REQUIRE(browser.wait_until(
      "return !!document.querySelector(\"button[aria-label='Edit Call the dentist']\");"));
  browser.click("button[aria-label='Edit Call the dentist']");
  browser.type("#edit-title", "Book the dentist");
  browser.type("#edit-estimate", "45");
  browser.click("form.inline button[type=submit]");
  REQUIRE(browser.wait_until(
      "return !!document.querySelector(\"button[aria-label='Snooze Book the dentist']\");"));
  CHECK(other_task().title() == "Book the dentist");
  CHECK(other_task().estimated_minutes() == 45);
  CHECK(other_task().edit_count() == 1);  // one edit, both fields
  browser.click("button[aria-label='Snooze Book the dentist']");
  CHECK(browser.run("return document.getElementById('snooze-until').value;").string_value() ==
        "tomorrow 9am");
  browser.click("form.inline button[type=submit]");
  browser.wait_text("status", [](auto& t) { return t.find("Snoozed") != std::string::npos; });
  CHECK(other_task().status() == v1::TASK_STATUS_SNOOZED);
  CHECK(other_task().snoozed_until().seconds() == tomorrow_at(9));
  REQUIRE(browser.wait_until(
      "return !!document.querySelector(\"button[aria-label='Complete Book the dentist']\");"));
  browser.click("button[aria-label='Complete Book the dentist']");
  browser.run("document.querySelectorAll('details').forEach(d => d.open = true);");
  REQUIRE(
      browser.wait_until("return !!document.querySelector(\"#done-tasks button[aria-label='Reopen "
                         "Book the dentist']\");"));
  CHECK(other_task().status() == v1::TASK_STATUS_COMPLETED);
  browser.click("#done-tasks button[aria-label='Reopen Book the dentist']");
  REQUIRE(
      browser.wait_until("return !!document.querySelector(\"#open-tasks "
                         "button[aria-label='Complete Book the dentist']\");"));
  CHECK(other_task().status() == v1::TASK_STATUS_PENDING);

  // The timeline: a suggested block, accepted from the page, shown in the
  // user's zone as coach stored it.
  browser.click("#nav button[data-view=schedule]");
  REQUIRE(browser.wait_until("return !!document.querySelector('#timeline .slot button.primary');"));
  check_accessible("schedule");
  // Turn the dentist's block down, then take the report's.
  REQUIRE(browser.wait_until(
      "return !!document.querySelector(\"#timeline button[aria-label$='for Book the dentist']"
      "[aria-label^='Reject']\");"));
  browser.click("#timeline button[aria-label$='for Book the dentist'][aria-label^='Reject']");
  browser.wait_text("status", [](auto& t) { return t.find("Rejected") != std::string::npos; });
  auto exported = s.ask("user.export").user_export();
  CHECK(std::count_if(exported.events().begin(), exported.events().end(), [&](const auto& e) {
          return e.has_recommendation_rejected() && e.task_id() == other;
        }) == 1);
  REQUIRE(browser.wait_until(
      "return !!document.querySelector(\"#timeline button[aria-label$='for Write the report']"
      "[aria-label^='Accept']\");"));
  browser.click("#timeline button[aria-label$='for Write the report'][aria-label^='Accept']");
  REQUIRE(browser.wait_until("return !!document.querySelector('#timeline .slot .badge.ok');"));
  auto schedule = s.ask("schedule.get").schedule();
  REQUIRE(schedule.accepted_size() == 1);
  const auto& block = schedule.accepted(0);
  CHECK(block.task_id() == task_id);
  auto expected =
      local_clock(block.recommended_start()) + "–" + local_clock(block.recommended_due());
  auto shown = browser
                   .run(
                       "return document.querySelector('#timeline .slot .badge.ok')"
                       ".closest('.slot').querySelector('.times').textContent;")
                   .string_value();
  CHECK(shown == expected);
  // On the day's 24-hour track the block starts at its local time.
  auto start_clock = local_clock(block.recommended_start());
  double start_share =
      (std::stoi(start_clock.substr(0, 2)) * 60 + std::stoi(start_clock.substr(3, 2))) / 1440.0;
  auto placed = browser
                    .run(
                        "const b = document.querySelector('.track .block.accepted');"
                        "const t = b.parentElement.getBoundingClientRect();"
                        "return (b.getBoundingClientRect().left - t.left - t.width * " +
                        std::to_string(start_share) + ") + '';")
                    .string_value();
  CHECK_MESSAGE(std::abs(std::stod(placed)) < 3, "the block is " << placed << " px off its place");
  CHECK(browser.text("schedule-zone").find(kZone) != std::string::npos);
  MESSAGE("screenshot: " << browser.save_screenshot(COACH_ARTIFACTS_DIR, "web-schedule"));

  // A nudge made outside the page (over NATS) arrives in the feed live,
  // and is rated from it.
  browser.click("#nav button[data-view=nudges]");
  REQUIRE(browser.wait_text("feed-state", [](auto& t) { return t == "live"; }) == "live");
  auto started = std::chrono::steady_clock::now();
  auto nudge = s.ask("nudge.now").nudge();
  const std::string item = "#feed .nudge[data-nudge='" + nudge.id() + "']";
  REQUIRE(browser.wait_until("return !!document.querySelector(arguments[0]);", item, 10s));
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started);
  MESSAGE("nudge.now to the feed on the page: " << took.count() << " ms (polled every 200 ms)");
  CHECK(browser.run("return document.querySelector(arguments[0] + ' .text').textContent;", item)
            .string_value() == nudge.generated_text());
  check_accessible("nudges");
  browser.click(item + " .rating button[aria-label^='4 of 5']");
  REQUIRE(browser.wait_until(
      "return document.querySelector(arguments[0] + \" .rating button[aria-label^='4 of 5']\")"
      ".getAttribute('aria-pressed') === 'true';",
      item));
  auto nudges = s.ask("nudge.list").nudge_list();
  auto rated = std::find_if(nudges.nudges().begin(), nudges.nudges().end(),
                            [&](const auto& r) { return r.nudge().id() == nudge.id(); });
  REQUIRE(rated != nudges.nudges().end());
  CHECK(rated->usefulness() == 4);
  MESSAGE("screenshot: " << browser.save_screenshot(COACH_ARTIFACTS_DIR, "web-nudges"));

  // Today and insights in plain words, with the user's own weeks once
  // tracking is on; then the same on a phone's screen.
  browser.click("#nav button[data-view=insights]");
  CHECK(browser.wait_text("insights-summary", [](auto& t) { return !t.empty(); }) != "");
  CHECK(browser.run("return document.getElementById('own-weeks-box').hidden;").bool_value());
  s.ask("preferences.set", R"({"behavioral_tracking_enabled": true})");
  auto own = s.ask("user.insights").insights();
  REQUIRE(own.weeks_size() >= 1);
  const auto& this_week = own.weeks(own.weeks_size() - 1);
  browser.click("#nav button[data-view=today]");
  browser.click("#nav button[data-view=insights]");
  REQUIRE(browser.wait_until("return !document.getElementById('own-weeks-box').hidden;"));
  auto last_row = browser.run(
      "const rows = document.querySelectorAll('#own-weeks tr');"
      "return [...rows[rows.length - 1].cells].map((c) => c.textContent);");
  auto cell = [&](int k) { return last_row.list_value().values(k).string_value(); };
  CHECK(cell(0) == this_week.week());
  CHECK(cell(1) == std::to_string(this_week.created()));
  CHECK(cell(2) ==
        std::to_string(this_week.completed()) + " of " + std::to_string(this_week.due()));
  CHECK(this_week.created() >= 1);
  // And their last days, today last.
  REQUIRE(own.days_size() >= 1);
  CHECK(own.days_size() <= 7);
  const auto& today = own.days(own.days_size() - 1);
  auto day_row = browser.run(
      "const rows = document.querySelectorAll('#own-days tr');"
      "return [rows.length, ...rows[rows.length - 1].cells].map((c) => "
      "typeof c === 'number' ? String(c) : c.textContent);");
  auto day_cell = [&](int k) { return day_row.list_value().values(k).string_value(); };
  CHECK(day_cell(0) == std::to_string(own.days_size()));
  CHECK(day_cell(1) == today.day());
  CHECK(day_cell(2) == std::to_string(today.created()));
  CHECK(today.created() >= 1);
  check_accessible("insights");
  browser.click("#nav button[data-view=today]");
  CHECK(browser.wait_text("today-tasks", [](auto& t) {
    return t.find("Write the report") != std::string::npos ||
           t.find("Nothing due") != std::string::npos;
  }) != "");
  browser.resize(390, 844);
  std::this_thread::sleep_for(300ms);
  check_accessible("today on a phone");
  browser.click("#nav button[data-view=schedule]");
  REQUIRE(browser.wait_until("return !!document.querySelector('#timeline .slot');"));
  check_accessible("schedule on a phone");
  MESSAGE("screenshot: " << browser.save_screenshot(COACH_ARTIFACTS_DIR, "web-phone"));
  CHECK(browser.text("error") == "");
}

TEST_CASE("the web client's dates: coachctl's grammar in the profile's zone, DST and all") {
  WebSetup s;
  auto url = s.url();
  test::Browser browser(s.dir.str());
  browser.open(url + "/");
  REQUIRE(browser.wait_until("return typeof When === 'object';"));
  // Friday 2026-03-27 10:00 UTC; Berlin springs forward on Sunday the 29th.
  struct Case {
    const char* text;
    const char* kind;
    const char* expected;  // ISO instant, or "error"
  } cases[] = {
      {"tomorrow 17:00", "end", "2026-03-28T16:00:00.000Z"},
      {"fri", "end", "2026-04-03T21:59:59.000Z"},  // next Friday: today does not count
      {"fri 5pm", "end", "2026-04-03T15:00:00.000Z"},
      {"sun 02:30", "end", "2026-03-29T01:30:00.000Z"},         // skipped: 03:30 CEST
      {"2026-10-25 02:30", "end", "2026-10-25T00:30:00.000Z"},  // repeated: the earlier
      {"tomorrow", "end", "2026-03-28T22:59:59.000Z"},
      {"tomorrow", "start", "2026-03-27T23:00:00.000Z"},
      {"+1h30m", "end", "2026-03-27T11:30:00.000Z"},
      {"in 3 days", "end", "2026-03-30T10:00:00.000Z"},
      {"9am", "end", "2026-03-28T08:00:00.000Z"},
      {"eom", "end", "2026-03-31T21:59:59.000Z"},
      {"next monday 9am", "end", "2026-03-30T07:00:00.000Z"},
      {"2026-03-27T12:00:00+02:00", "end", "2026-03-27T10:00:00.000Z"},
      {"2026-02-30", "end", "error"},
      {"tomorrow 25:00", "end", "error"},
      {"+0d", "end", "error"},
      {"someday", "end", "error"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.text);
    CAPTURE(c.kind);
    auto got = browser
                   .run(std::string("try { return new Date(When.parse(arguments[0], "
                                    "Date.parse('2026-03-27T10:00:00Z'), 'Europe/Berlin', '") +
                            c.kind + "')).toISOString(); } catch (e) { return 'error'; }",
                        c.text)
                   .string_value();
    CHECK(got == c.expected);
  }
  CHECK(browser
            .run("try { When.parse('today', Date.now(), 'Mars/Olympus'); return 'parsed'; }"
                 " catch (e) { return e.message; }")
            .string_value()
            .find("unknown time zone") != std::string::npos);
}
