// The procrastination model: the shipped file parses, scores move the right
// way, and a damaged model file is refused with a clear error.
#include <doctest/doctest.h>

#include <sstream>

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
