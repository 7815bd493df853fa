// coach-import: brings task history into a data dir (issue #5), so users
// switching tools bring their past and the behavior model starts warm.
//
//   coach-import init                     a new data dir and its keys (no coachd needed)
//   coach-import csv FILE                 coach's CSV (docs/import.md)
//   coach-import taskwarrior FILE --user U [--undo undo.data]
//                                         `task export` JSON of one user, and
//                                         its history of changes
//
// Runs while coachd is stopped (the store is opened for writing), with an
// admin's token and the node's master key. Bad rows are reported with their
// line and skipped (--on-error skip, the default) or make the whole import
// write nothing (--on-error reject). --dry-run checks only.
// Exit codes: 0 imported (or checked) without bad rows; 1 an error; 2 bad
// usage or bad rows.
#include <fmt/core.h>
#include <CLI/CLI.hpp>
#include <cstdlib>

#include "apps/common/secret_file.h"
#include "importer.h"
#include "offline/offline_access.h"
#include "projections/user_profile.h"
#include "schema/internal.pb.h"

using namespace coach;

namespace {

int fail(const Error& error) {
  fmt::print(stderr, "coach-import: {}: {}\n", errc_name(error.code), error.message);
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"coach-import: load task history into coach's data dir"};
  app.fallthrough();  // global options may follow the subcommand too (set before them)
  actors::OfflineAccess access;
  access.data_dir = ".coach/data";
  access.read_only = false;
  if (const char* t = std::getenv("COACH_TOKEN")) access.token = t;
  apps::ImportOptions options;
  std::string on_error = "skip", file, user;
  app.add_option("--data-dir", access.data_dir, "coachd's data dir")->capture_default_str();
  app.add_option("--master-key-file", access.master_key_file,
                 "the node's master key (default: master.key beside the data dir)");
  app.add_option(
      "--token-key-file", access.token_key_file,
      "the node's token key, to check the token (default: token.key beside the data dir)");
  std::string token_file;
  app.add_option("--token-file", token_file,
                 "file holding an admin's token, mode 0600; or set COACH_TOKEN")
      ->each([&](const std::string& path) {
        auto token = apps::read_secret_file(path);
        if (!token) throw CLI::ValidationError("--token-file", token.error().message);
        access.token = *token;
      });
  app.add_option("--on-error", on_error, "skip: import the good rows; reject: import nothing")
      ->check(CLI::IsMember({"skip", "reject"}))
      ->capture_default_str();
  app.add_flag("--dry-run", options.dry_run, "check and report, write nothing");
  app.add_option("--time-zone", options.time_zone, "time zone of users the import registers")
      ->capture_default_str();
  app.add_flag("--tracking", options.tracking,
               "turn behavioral tracking on for users the import registers (their history then "
               "warms the behavior model); off by default: tracking is opt-in");
  auto* csv = app.add_subcommand("csv", "coach's CSV of task events");
  csv->add_option("file", file, "the CSV file")->required();
  auto* tw = app.add_subcommand("taskwarrior", "Taskwarrior's `task export` JSON");
  tw->add_option("file", file, "the JSON file")->required();
  tw->add_option("--user", user, "the coach user id the tasks belong to")->required();
  std::string undo;
  tw->add_option("--undo", undo,
                 "Taskwarrior's undo.data (e.g. ~/.task/undo.data): every change with its "
                 "time, so the history comes across, not only the state now");
  app.add_option("--email", options.email,
                 "e-mail address of users the import registers (CSV: the email column wins); "
                 "default none: no e-mail notifications until they register one");
  auto* init = app.add_subcommand(
      "init", "make a new data dir with its master key and token key, for use without coachd");
  app.require_subcommand(1);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (*init) {
    if (auto made = actors::init_data_dir(access); !made) return fail(made.error());
    auto token_key = access.token_key_file.empty()
                         ? actors::beside_data_dir(access.data_dir, "token.key")
                         : access.token_key_file;
    fmt::print(
        "coach-import: made {}/events and its keys. An admin token for the import:\n"
        "  coachctl admin token --key-file {} --user $(coachctl new-user-id) --role admin\n",
        access.data_dir, token_key);
    return 0;
  }
  options.reject = on_error == "reject";
  if (!projections::known_time_zone(options.time_zone))
    return fail(make_error(Errc::invalid_argument,
                           "--time-zone \"" + options.time_zone + "\" is not an IANA time zone"));

  std::vector<std::string> notes;
  auto rows = *csv ? apps::read_coach_csv(file) : apps::read_taskwarrior(file, user, notes, undo);
  if (!rows) return fail(rows.error());
  for (const auto& note : notes) fmt::print(stderr, "coach-import: {}\n", note);

  auto opened = actors::open_for_analysis(access);
  if (!opened) return fail(opened.error());
  if (opened->caller.role != v1::ROLE_ADMIN)
    return fail(make_error(Errc::permission_denied,
                           "importing writes users' data: an admin's "
                           "token is needed"));
  auto report = apps::import_rows(*opened->store, std::move(*rows), options);
  if (!report) return fail(report.error());
  for (const auto& e : report->errors) fmt::print(stderr, "coach-import: {}: {}\n", file, e);
  for (const auto& w : report->warnings) fmt::print(stderr, "coach-import: warning: {}\n", w);
  const char* outcome = report->written   ? ""
                        : options.dry_run ? "; dry run: nothing written"
                                          : "; nothing written (--on-error reject)";
  fmt::print(
      "coach-import: {} rows: {} {}, {} already imported, {} bad; {} events for {} "
      "users ({} newly registered){}\n",
      report->rows, report->imported_rows, report->written ? "imported" : "good",
      report->duplicate_rows, report->skipped_rows, report->events, report->users,
      report->registered_users, outcome);
  return report->errors.empty() ? 0 : 2;
}
