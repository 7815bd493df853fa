// Behavior modes: k-means with k chosen by silhouette finds planted groups,
// and a fitted model survives its stored form.
#include <doctest/doctest.h>

#include <random>

#include "projections/behavior_clusters.h"
#include "support.h"

using namespace coach;
using namespace coach::projections;

namespace {

// n users around each of `centers`, with small noise.
std::vector<ModeFeatures> planted(const std::vector<ModeFeatures>& centers, int n,
                                  std::vector<int>& truth) {
  std::mt19937_64 rng(7);
  std::normal_distribution<double> noise(0, 0.02);
  std::vector<ModeFeatures> users;
  for (size_t c = 0; c < centers.size(); ++c)
    for (int i = 0; i < n; ++i) {
      ModeFeatures x = centers[c];
      for (auto& v : x) v += noise(rng);
      users.push_back(x);
      truth.push_back(static_cast<int>(c));
    }
  return users;
}

}  // namespace

TEST_CASE("three planted modes are found, named and kept through the stored form") {
  std::vector<int> truth;
  auto users = planted({{0.9, 0.1, 1.1, 0.0, 5, 0.5},   // late
                        {0.1, 2.0, 0.5, 0.0, 5, 0.0},   // snoozes
                        {0.1, 0.1, 0.5, 0.9, 5, 0.0}},  // at night
                       60, truth);
  auto model = ClusterModel::fit(users);
  REQUIRE_MESSAGE(model, test::error_of(model));
  CHECK(model->k() == 3);
  CHECK_MESSAGE(model->silhouette() > 0.5, model->silhouette());
  std::vector<int> labels;
  for (const auto& x : users) labels.push_back(model->assign(x));
  CHECK(adjusted_rand(labels, truth) == doctest::Approx(1.0));
  CHECK(model->name(labels[0]) == "late finisher");
  CHECK(model->name(labels[70]) == "snoozer");
  CHECK(model->name(labels[130]) == "night owl");

  auto again = ClusterModel::from_state(model->to_state());
  CHECK(again.k() == 3);
  for (size_t i = 0; i < users.size(); i += 17) CHECK(again.assign(users[i]) == labels[i]);
  CHECK(model->to_state().users() == users.size());
}

TEST_CASE("sampling keeps large fits fast and still finds the modes") {
  std::vector<int> truth;
  auto users = planted({{0.9, 0, 1, 0, 3, 0.5}, {0.1, 0, 0.3, 0, 20, 0}}, 15000, truth);
  ClusterOptions options;
  options.max_fit_users = 3000;
  options.max_silhouette_users = 500;
  auto model = ClusterModel::fit(users, options);
  REQUIRE(model);
  CHECK(model->k() == 2);
  CHECK(model->sizes()[0] + model->sizes()[1] == 30000);
  CHECK(model->sizes()[0] == 15000);
}

TEST_CASE("too few users or bad options are refused") {
  std::vector<ModeFeatures> two(2);
  auto few = ClusterModel::fit(two);
  REQUIRE_FALSE(few);
  CHECK(few.error().code == Errc::invalid_argument);
  std::vector<int> truth;
  auto users = planted({{0, 0, 0, 0, 0, 0}}, 10, truth);
  ClusterOptions bad;
  bad.k_min = 1;
  CHECK_FALSE(ClusterModel::fit(users, bad));
}

TEST_CASE("the name shown to a user never contradicts their own features or score") {
  std::vector<int> truth;
  // An on-time cluster (low share_late), a late one, and a night one.
  auto users = planted({{0.1, 0.1, 0.5, 0.0, 5, 0.0},   // on time
                        {0.9, 0.1, 1.1, 0.0, 5, 0.5},   // late
                        {0.5, 0.1, 0.8, 0.9, 5, 0.2}},  // at night
                       60, truth);
  auto model = ClusterModel::fit(users);
  REQUIRE_MESSAGE(model, test::error_of(model));
  int on_time = model->assign(users[0]), late = model->assign(users[60]);
  REQUIRE(model->name(on_time) == "on-time finisher");
  const auto& late_name = model->name(late);
  REQUIRE((late_name == "late finisher" || late_name == "very late finisher"));

  // A user of the on-time cluster whose score says 88% late is not called
  // on time; with a low score the same user is.
  CHECK(model->name_for(on_time, users[0], 0.88) != "on-time finisher");
  CHECK(model->name_for(on_time, users[0], 0.88) != "never very late");
  CHECK(model->name_for(on_time, users[0], 0.2) == "on-time finisher");
  // A late cluster's user with a low score is not called a late finisher.
  CHECK(model->name_for(late, users[60], 0.1) != late_name);
  CHECK(model->name_for(late, users[60], 0.9) == late_name);
  // A user nearest the night cluster who finishes by day is no night owl.
  ModeFeatures daytime = {0.5, 0.1, 0.8, 0.2, 5, 0.2};  // below the mean night share
  int night = model->assign(users[120]);
  REQUIRE(model->name(night) == "night owl");
  REQUIRE(model->assign(daytime) == night);
  CHECK(model->name_for(night, daytime, 0.5) != "night owl");

  // Over every user and score: on-time words only below 0.5, late ones at
  // or above it.
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<double> score(0, 1);
  for (const auto& x : users) {
    double s = score(rng);
    auto name = model->name_for(model->assign(x), x, s);
    CAPTURE(name);
    CAPTURE(s);
    for (const char* word : {"on-time finisher", "never very late", "starts early"})
      if (name == word) CHECK(s < 0.5);
    for (const char* word : {"late finisher", "very late finisher", "deadline-driven"})
      if (name == word) CHECK(s >= 0.5);
  }
}
