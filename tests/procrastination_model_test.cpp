// The procrastination model: the shipped file parses, scores move the right
// way, and a damaged model file is refused with a clear error.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <optional>
#include <sstream>

#include "base/ids.h"
#include "base/time.h"
#include "events/envelope.h"
#include "projections/lateness_risk.h"
#include "projections/procrastination_model.h"

using namespace coach;
using namespace coach::projections;

TEST_CASE("the shipped model parses and a worse history scores higher") {
  const auto& model = ProcrastinationModel::builtin();
  CHECK(model.version == "v1");
  BehaviorSignals punctual, tardy;
  punctual.completions_with_due = tardy.completions_with_due = 10;
  tardy.late = 8;
  tardy.very_late = 4;
  auto good = model.score(features_of(punctual, 0));
  auto bad = model.score(features_of(tardy, 2));
  CHECK(good > 0);
  CHECK(bad < 1);
  CHECK(bad > good + 0.3);
  // Explanations: the late share pushes the tardy user's score up.
  auto why = model.contributions(features_of(tardy, 2));
  CHECK(why[0] > 0);
  auto again = ProcrastinationModel::parse(model.to_text());
  REQUIRE(again);
  CHECK(again->score(features_of(tardy, 2)) == doctest::Approx(bad));
}

TEST_CASE("a damaged model file is refused, naming what is wrong") {
  auto text = ProcrastinationModel::builtin().to_text();
  auto without = [&](const std::string& line_start) {
    std::string out, line;
    std::istringstream in(text);
    while (std::getline(in, line))
      if (line.rfind(line_start, 0) != 0) out += line + "\n";
    return out;
  };
  auto missing = ProcrastinationModel::parse(without("weight history"));
  REQUIRE_FALSE(missing);
  CHECK(missing.error().message.find("history") != std::string::npos);
  auto unknown = ProcrastinationModel::parse(text + "weight shoe_size 3\n");
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error().message.find("shoe_size") != std::string::npos);
  CHECK_FALSE(ProcrastinationModel::parse(without("version")));
  CHECK_FALSE(ProcrastinationModel::parse("garbage"));
}

// Per-task lateness risk (issue 22): its features, worked out by hand.
namespace {

using Clock = std::chrono::system_clock;
const Clock::time_point kDay0 = Clock::from_time_t(1'800'000'000);

Clock::time_point day(double d) {
  return kDay0 + std::chrono::seconds(static_cast<int64_t>(d * 86400));
}

// Folds a created task (and, if given, its completion) into `book`.
void add_task(TaskBook& book, uint64_t& sequence, const std::string& id,
              const std::string& category, double due,
              std::optional<double> completed = std::nullopt, int priority = 0,
              double created_day = 0) {
  auto user = Uuid::random();
  v1::TaskEvent created;
  created.set_task_id(id);
  auto* f = created.mutable_task_created()->mutable_fields();
  f->set_title(id);
  f->set_category(category);
  f->set_priority(priority);
  *f->mutable_due_at() = coach::to_timestamp(day(due));
  events::stamp_envelope(created, user, ++sequence, day(created_day));
  evolve(book, created);
  if (!completed) return;
  v1::TaskEvent done;
  done.set_task_id(id);
  done.mutable_task_completed();
  events::stamp_envelope(done, user, ++sequence, day(*completed));
  evolve(book, done);
}

}  // namespace

TEST_CASE("per-task risk features: the user's and the category's history, the task's own") {
  TaskBook book;
  uint64_t sequence = 0;
  auto a = new_uuid_string(), b = new_uuid_string(), c = new_uuid_string(), d = new_uuid_string(),
       e = new_uuid_string();
  add_task(book, sequence, a, "essay", 10, 12);  // two days late
  add_task(book, sequence, b, "essay", 20);      // overdue, open
  add_task(book, sequence, c, "essay", 30, std::nullopt, 2);
  add_task(book, sequence, d, "quiz", 28);      // open, due two days before c
  add_task(book, sequence, e, "quiz", 40, 26);  // done after now: not in the book as of day 25
  TaskBook as_of_25;
  // The book as of day 25 holds no completion of e.
  uint64_t s2 = 0;
  add_task(as_of_25, s2, a, "essay", 10, 12);
  add_task(as_of_25, s2, b, "essay", 20);
  add_task(as_of_25, s2, c, "essay", 30, std::nullopt, 2);
  add_task(as_of_25, s2, d, "quiz", 28);
  add_task(as_of_25, s2, e, "quiz", 40);
  auto x = risk_features(as_of_25, *as_of_25.find(c), day(25), 0.5);
  REQUIRE(x);
  auto at = [&](std::string_view name) {
    auto i = std::find(kTaskRiskFeatureNames.begin(), kTaskRiskFeatureNames.end(), name);
    REQUIRE(i != kTaskRiskFeatureNames.end());
    return (*x)[static_cast<size_t>(i - kTaskRiskFeatureNames.begin())];
  };
  CHECK(at("population_logit") == doctest::Approx(0));
  CHECK(at("user_late") == doctest::Approx((2 + 0.7) / 4));
  CHECK(at("user_late_recent") == doctest::Approx(0.8375));  // 0.35 -> 0.675 -> 0.8375
  CHECK(at("category_late") == doctest::Approx((2 + 2 * 0.675) / 4));
  CHECK(at("category_due_so_far") == doctest::Approx(std::log1p(2)));
  CHECK(at("last_late") == 1);
  CHECK(at("overdue_open") == doctest::Approx(std::log1p(1)));
  CHECK(at("category_overdue_open") == doctest::Approx(std::log1p(1)));
  CHECK(at("days_since_done") == doctest::Approx(std::log1p(13)));
  CHECK(at("days_early_mean") == doctest::Approx(-2));
  CHECK(at("days_early_last") == doctest::Approx(-2));
  CHECK(at("has_completions") == 1);
  CHECK(at("category_days") == doctest::Approx(0.25));
  CHECK(at("lead_days") == doctest::Approx(std::log1p(30)));
  CHECK(at("days_left") == doctest::Approx(std::log1p(5)));
  CHECK(at("priority") == doctest::Approx(0.5));
  CHECK(at("task_snoozes") == 0);
  CHECK(at("due_close") == doctest::Approx(std::log1p(1)));
  // A book that is ahead (e's completion on day 26, a task created on day
  // 27) gives the same features as of day 25: nothing later leaks in.
  add_task(book, sequence, new_uuid_string(), "essay", 29, std::nullopt, 0, 27);
  auto later = book.find(c);
  REQUIRE(later);
  auto ahead = risk_features(book, *later, day(25), 0.5);
  REQUIRE(ahead);
  CHECK(*ahead == *x);

  // No due date, no lateness.
  TaskBook plain;
  v1::TaskEvent created;
  created.set_task_id(new_uuid_string());
  created.mutable_task_created()->mutable_fields()->set_title("someday");
  events::stamp_envelope(created, Uuid::random(), 1, day(0));
  evolve(plain, created);
  CHECK_FALSE(risk_features(plain, *plain.find(created.task_id()), day(1), 0.5));
}

TEST_CASE("a logistic model file reads back what it wrote, and a damaged one is refused") {
  LogisticModel m{"v9", -1.5, {0.5, 2}, {0.1, 0.2}};
  std::array<std::string_view, 2> names = {"a", "b"};
  auto again = LogisticModel::parse(m.to_text(names), names);
  REQUIRE(again);
  CHECK(again->version == "v9");
  CHECK(again->weights == m.weights);
  CHECK(again->score(std::vector<double>{1, 1}) == doctest::Approx(1 / (1 + std::exp(-1.0))));
  CHECK_FALSE(LogisticModel::parse("version v1\nbias 0\nweight a 1\nreference a 0\n", names));
  auto unknown = LogisticModel::parse(m.to_text(names) + "weight c 1\n", names);
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error().message.find("unknown feature c") != std::string::npos);
}

TEST_CASE("the per-task risk model of models/ reads, with a weight for every feature") {
  std::ifstream in(COACH_SOURCE_DIR "/models/lateness-v1.txt");
  REQUIRE(in);
  std::stringstream text;
  text << in.rdbuf();
  auto model = LogisticModel::parse(text.str(), kTaskRiskFeatureNames);
  REQUIRE_MESSAGE(model, model.error().message);
  CHECK(model->version == "v1");
  CHECK(model->weights.size() == kTaskRiskFeatureCount);
  // Its population and category terms push a late category's task up.
  TaskRiskFeatures calm = {}, tense = {};
  calm[0] = -1, tense[0] = 1;
  CHECK(model->score(tense) > model->score(calm));
}

TEST_CASE(
    "a task's risk: the model's while open and not yet due, 1 once past due, none when done") {
  TaskBook book;
  uint64_t sequence = 0;
  auto open = new_uuid_string(), done = new_uuid_string();
  add_task(book, sequence, open, "essay", 10);
  add_task(book, sequence, done, "essay", 10, 5);
  LogisticModel model{"test", 0.5, std::vector<double>(kTaskRiskFeatureCount, 0),
                      std::vector<double>(kTaskRiskFeatureCount, 0)};
  auto before = task_risk(model, book, *book.find(open), day(3), 0.5);
  REQUIRE(before);
  CHECK(*before == doctest::Approx(1 / (1 + std::exp(-0.5))));
  CHECK(task_risk(model, book, *book.find(open), day(11), 0.5) == 1.0);
  CHECK_FALSE(task_risk(model, book, *book.find(done), day(6), 0.5));
}

TEST_CASE("every risk feature is explained, once, in plain words") {
  v1::Task task;
  task.set_category("essay");
  for (size_t i = 0; i < kTaskRiskFeatureCount; ++i) {
    LogisticModel only;  // a model that weighs feature i alone
    only.version = "test";
    only.weights.assign(kTaskRiskFeatureCount, 0);
    only.reference.assign(kTaskRiskFeatureCount, 0);
    only.weights[i] = 1;
    TaskRiskFeatures x{};
    x[i] = 1;
    auto up = explain_risk(only, x, task);
    INFO("feature " << kTaskRiskFeatureNames[i]);
    REQUIRE(up.size() == 1);
    CHECK(up[0].ends_with("(raises the risk)"));
    x[i] = -1;
    auto down = explain_risk(only, x, task);
    REQUIRE(down.size() == 1);
    CHECK(down[0].ends_with("(lowers the risk)"));
  }
  // The shipped model's reasons are at most three, the strongest first.
  TaskRiskFeatures worst{};
  const auto& model = builtin_lateness_model();
  for (size_t i = 0; i < kTaskRiskFeatureCount; ++i)
    worst[i] = model.reference[i] + (model.weights[i] > 0 ? 1 : -1);
  auto reasons = explain_risk(model, worst, task);
  CHECK(reasons.size() == 3);
  for (const auto& r : reasons) CHECK(r.ends_with("(raises the risk)"));
  CHECK(model.version == "v1");
}

TEST_CASE("population rates: by category once enough users have one, else overall") {
  PopulationTally tally;
  for (int u = 0; u < 13; ++u) {
    TaskBook book;
    uint64_t sequence = 0;
    bool secret = u >= 10;  // three users only: too few for a rate of its own
    add_task(book, sequence, new_uuid_string(), secret ? "secret" : "essay", 10,
             secret ? 9 : 12);                                 // late unless secret
    add_task(book, sequence, new_uuid_string(), "essay", 30);  // not due yet: unknown
    tally.add_user(book, day(20));
  }
  tally.add_user(TaskBook{}, day(20));  // a user with nothing due counts nowhere
  auto rates = tally.rates(day(20));
  CHECK(rates.users() == 13);
  CHECK(rates.overall() == doctest::Approx((10 + 20 * kPriorLateRate) / (13 + 20)));
  REQUIRE(rates.categories_size() == 1);
  CHECK(rates.categories(0).category() == "essay");
  CHECK(rates.categories(0).users() == 10);
  CHECK(rates.categories(0).due() == 10);
  const auto& model = builtin_lateness_model();
  CHECK(population_rate(&rates, "essay", model, day(20)) ==
        doctest::Approx((10 + 20 * kPriorLateRate) / (10 + 20)));
  CHECK(population_rate(&rates, "secret", model, day(20)) == rates.overall());
  CHECK(population_rate(&rates, "never seen", model, day(20)) == rates.overall());
  CHECK(population_rate(nullptr, "essay", model, day(20)) == neutral_population_rate(model));
  // Not before the instant they were counted at: they know later outcomes.
  CHECK(population_rate(&rates, "essay", model, day(19)) == neutral_population_rate(model));
  auto few = rates;
  few.set_users(kMinUsersPerCategory - 1);  // too few to say anything of anyone
  CHECK(population_rate(&few, "essay", model, day(20)) == neutral_population_rate(model));
  v1::PopulationRatesState nobody;
  CHECK(population_rate(&nobody, "essay", model, day(20)) == neutral_population_rate(model));
}
