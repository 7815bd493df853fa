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
