// The doctest main of every test executable, with two guards that keep the
// suite honest (issue #14):
//
// - A run whose filters select no test case fails with exit code 3 and says
//   so. CTest runs each case as `--test-case=<name>`; a name CTest or doctest
//   cannot carry would otherwise match nothing and pass having run nothing.
// - When COACH_TEST_LEDGER names a folder (CTest sets it for every doctest
//   entry), each case that starts appends the line "<case name>\n" to
//   <folder>/<executable>.ran. tests/check_ledger.sh compares those lines
//   with the executable's --list-test-cases after a full run, so a case that
//   exists but never ran under CTest is a failure, not a silence.
//
// Queries (--list-test-cases, --count, --help, ...) are answered as doctest
// always does and are not guarded.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace {

// What the listener saw of the run; filled before main reads it.
struct RunRecord {
  bool ran = false;  // test_run_end was called: not a query
  unsigned selected = 0;
};
RunRecord g_record;
std::string g_executable;

// Appends one line with a single write(2) on an O_APPEND descriptor, so
// lines of CTest's parallel runs of one executable never interleave.
void append_to_ledger(const std::string& line) {
  const char* folder = std::getenv("COACH_TEST_LEDGER");
  if (!folder || !*folder) return;
  std::string path = std::string(folder) + "/" + g_executable + ".ran";
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) {
    std::fprintf(stderr, "test_main: cannot write the test ledger %s\n", path.c_str());
    std::exit(4);
  }
  std::string text = line + "\n";
  bool whole = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  if (!whole) {
    std::fprintf(stderr, "test_main: short write to the test ledger %s\n", path.c_str());
    std::exit(4);
  }
}

struct LedgerListener : doctest::IReporter {
  explicit LedgerListener(const doctest::ContextOptions&) {}
  void report_query(const doctest::QueryData&) override {}
  void test_run_start() override {}
  void test_run_end(const doctest::TestRunStats& stats) override {
    g_record.ran = true;
    g_record.selected = stats.numTestCasesPassingFilters;
  }
  void test_case_start(const doctest::TestCaseData& tc) override { append_to_ledger(tc.m_name); }
  void test_case_reenter(const doctest::TestCaseData&) override {}
  void test_case_end(const doctest::CurrentTestCaseStats&) override {}
  void test_case_exception(const doctest::TestCaseException&) override {}
  void subcase_start(const doctest::SubcaseSignature&) override {}
  void subcase_end() override {}
  void log_assert(const doctest::AssertData&) override {}
  void log_message(const doctest::MessageData&) override {}
  void test_case_skipped(const doctest::TestCaseData&) override {}
};

}  // namespace

DOCTEST_REGISTER_LISTENER("coach_ledger", 1, LedgerListener);

int main(int argc, char** argv) {
  std::string self = argc > 0 ? argv[0] : "test";
  g_executable = self.substr(self.find_last_of('/') + 1);
  doctest::Context context(argc, argv);
  int code = context.run();
  if (g_record.ran && g_record.selected == 0) {
    std::fprintf(stderr,
                 "test_main: the filters matched no test case: nothing ran, which is a failure "
                 "(a name CTest cannot carry?)\n");
    return 3;
  }
  return code;
}
