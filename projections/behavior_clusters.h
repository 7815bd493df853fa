// Behavior modes: users grouped by how they work, from their behavioral
// signals (issue #5). Pure and deterministic for a given seed.
//
// Each user is described by kModeFeatureCount mode features (below),
// standardized to z-scores over the users being fitted, and clustered with
// k-means (k-means++ start, Lloyd iterations, best of 5 starts). k is chosen
// in [k_min, k_max] by the best mean silhouette (how much closer each user
// is to their own cluster than to the next, in [-1, 1]), the documented
// criterion; that silhouette is the quality figure reported with the model.
// For speed, fitting uses a seeded uniform sample of at most max_fit_users
// users and the silhouette a sample of at most max_silhouette_users; every
// user is then assigned to the nearest center.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "projections/behavior_signals.h"
#include "schema/commands.pb.h"
#include "schema/snapshots.pb.h"

namespace coach::projections {

inline constexpr size_t kModeFeatureCount = 6;
using ModeFeatures = std::array<double, kModeFeatureCount>;
inline constexpr std::array<std::string_view, kModeFeatureCount> kModeFeatureNames = {
    "share_late",       // completions after their due time / completions with a due date
    "snooze_rate",      // snoozes per task created
    "mean_tension",     // mean deadline tension of completions, 0..2
    "night_share",      // completions between 22:00 and 03:00 local / completions
    "tasks_per_week",   // tasks created per week of activity (first to last event)
    "share_very_late",  // completions more than 4 days late / completions with a due date
};

ModeFeatures mode_features_of(const BehaviorSignals& signals);

// A user is placed in a mode (and named) only after this many completed
// tasks: before that their features say nothing yet, so a new user is not
// labelled at all (mode_cluster -1, mode_name empty).
inline constexpr uint64_t kMinCompletionsForMode = 3;
inline bool has_mode_history(uint64_t completions) {
  return completions >= kMinCompletionsForMode;
}

struct ClusterOptions {
  int k_min = 2;
  int k_max = 8;
  uint64_t seed = 42;
  size_t max_fit_users = 20000;
  size_t max_silhouette_users = 2000;
};

class ClusterModel {
 public:
  // Fits modes to the users' features; invalid_argument with fewer users
  // than k_min + 1 or a bad option.
  static Result<ClusterModel> fit(const std::vector<ModeFeatures>& users,
                                  const ClusterOptions& options = {});
  static ClusterModel from_state(const v1::ClusterModelState& state);
  v1::ClusterModelState to_state() const;

  // The nearest center's index, in [0, k).
  int assign(const ModeFeatures& x) const;
  int k() const { return static_cast<int>(centers_.size()); }
  double silhouette() const { return silhouette_; }
  // The cluster's own name: its center's most distinctive trait
  // ("night owl", "on-time finisher", ...), or "typical".
  const std::string& name(int cluster) const { return names_[static_cast<size_t>(cluster)]; }
  // The name shown to one user of `cluster`, which never contradicts the
  // user: the most distinctive trait of the center (at least 0.5 standard
  // deviations from the mean) that the user's own features x share (same
  // side of the mean) and, for the lateness traits, that agrees with the
  // user's procrastination score: "on-time finisher", "never very late"
  // and "starts early" need a score below 0.5, "late finisher", "very late
  // finisher" and "deadline-driven" a score of 0.5 or more. "typical" when
  // no trait qualifies.
  std::string name_for(int cluster, const ModeFeatures& x, double score) const;
  const std::vector<uint64_t>& sizes() const { return sizes_; }

 private:
  ModeFeatures standardize(const ModeFeatures& x) const;
  ModeFeatures mean_{}, scale_{};
  std::vector<ModeFeatures> centers_;  // standardized
  std::vector<std::string> names_;
  std::vector<uint64_t> sizes_;
  double silhouette_ = 0;
};

// k-means labels of points (any dimension), best of 5 seeded starts.
std::vector<int> kmeans(const std::vector<std::vector<double>>& x, int k, uint64_t seed);
// Mean silhouette of a labeling, in [-1, 1]; O(n^2).
double silhouette(const std::vector<std::vector<double>>& x, const std::vector<int>& label, int k);
// Adjusted Rand index of two labelings: 1 identical, about 0 for chance.
double adjusted_rand(const std::vector<int>& a, const std::vector<int>& b);

}  // namespace coach::projections
