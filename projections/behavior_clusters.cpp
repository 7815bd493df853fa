#include "projections/behavior_clusters.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <random>

#include "events/envelope.h"
#include "schema/snapshots.pb.h"

namespace coach::projections {
namespace {

double squared_distance(const std::vector<double>& a, const std::vector<double>& b) {
  double d = 0;
  for (size_t i = 0; i < a.size(); ++i) d += (a[i] - b[i]) * (a[i] - b[i]);
  return d;
}

std::vector<double> to_vector(const ModeFeatures& x) {
  return {x.begin(), x.end()};
}

// A seeded uniform sample of at most n indices of [0, size).
std::vector<size_t> sample(size_t size, size_t n, uint64_t seed) {
  std::vector<size_t> index(size);
  std::iota(index.begin(), index.end(), 0);
  if (size <= n) return index;
  std::mt19937_64 rng(seed);
  for (size_t i = 0; i < n; ++i) std::swap(index[i], index[i + rng() % (size - i)]);
  index.resize(n);
  return index;
}

// Plain words for the most distinctive feature of a center, high and low.
constexpr std::array<std::array<const char*, 2>, kModeFeatureCount> kModeWords = {{
    {"late finisher", "on-time finisher"},
    {"snoozer", "rarely snoozes"},
    {"deadline-driven", "starts early"},
    {"night owl", "day worker"},
    {"heavy load", "light load"},
    {"very late finisher", "never very late"},
}};

// Features whose high side means finishing late (share_late, mean_tension,
// share_very_late): their words must agree with the user's score.
constexpr std::array<bool, kModeFeatureCount> kLatenessTrait = {true,  false, true,
                                                                false, false, true};
constexpr double kDistinctive = 0.5, kLateScore = 0.5;

// The features of a standardized center, most distinctive first.
std::vector<size_t> by_distinctiveness(const ModeFeatures& z) {
  std::vector<size_t> order(kModeFeatureCount);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return std::abs(z[a]) > std::abs(z[b]); });
  return order;
}

std::string name_of(const ModeFeatures& z) {
  size_t top = by_distinctiveness(z).front();
  if (std::abs(z[top]) < kDistinctive) return "typical";
  return kModeWords[top][z[top] > 0 ? 0 : 1];
}

}  // namespace

ModeFeatures mode_features_of(const BehaviorSignals& s) {
  double night = 0;
  for (int h : {22, 23, 0, 1, 2}) night += s.completions_by_hour[static_cast<size_t>(h)];
  // The gaps between events span the user's active time, first to last.
  double weeks = s.gap_hours.mean * static_cast<double>(s.gap_hours.count) / (24 * 7);
  return {s.share_late(),
          s.snooze_rate(),
          s.tension.count ? s.tension.mean : 0,
          s.completions ? night / static_cast<double>(s.completions) : 0,
          static_cast<double>(s.tasks_created) / std::max(1.0, weeks),
          s.share_very_late()};
}

std::vector<int> kmeans(const std::vector<std::vector<double>>& x, int k, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<int> best;
  double best_inertia = 1e300;
  const auto K = static_cast<size_t>(k);
  for (int restart = 0; restart < 5; ++restart) {
    std::vector<std::vector<double>> centers = {x[rng() % x.size()]};
    std::vector<double> nearest(x.size(), 1e300);
    while (centers.size() < K) {
      for (size_t i = 0; i < x.size(); ++i)
        nearest[i] = std::min(nearest[i], squared_distance(x[i], centers.back()));
      centers.push_back(x[std::discrete_distribution<size_t>(nearest.begin(), nearest.end())(rng)]);
    }
    std::vector<int> label(x.size(), 0);
    for (int iteration = 0; iteration < 100; ++iteration) {
      bool moved = false;
      for (size_t i = 0; i < x.size(); ++i) {
        size_t closest = 0;
        double d_closest = squared_distance(x[i], centers[0]);
        for (size_t c = 1; c < K; ++c)
          if (double d = squared_distance(x[i], centers[c]); d < d_closest)
            closest = c, d_closest = d;
        moved |= static_cast<int>(closest) != label[i];
        label[i] = static_cast<int>(closest);
      }
      std::vector<std::vector<double>> sum(K, std::vector<double>(x[0].size(), 0));
      std::vector<size_t> n(K, 0);
      for (size_t i = 0; i < x.size(); ++i) {
        auto c = static_cast<size_t>(label[i]);
        for (size_t d = 0; d < x[i].size(); ++d) sum[c][d] += x[i][d];
        ++n[c];
      }
      for (size_t c = 0; c < K; ++c)
        if (n[c])
          for (size_t d = 0; d < sum[c].size(); ++d) centers[c][d] = sum[c][d] / double(n[c]);
      if (!moved) break;
    }
    double inertia = 0;
    for (size_t i = 0; i < x.size(); ++i)
      inertia += squared_distance(x[i], centers[static_cast<size_t>(label[i])]);
    if (inertia < best_inertia) best_inertia = inertia, best = label;
  }
  return best;
}

double silhouette(const std::vector<std::vector<double>>& x, const std::vector<int>& label, int k) {
  const auto K = static_cast<size_t>(k);
  double total = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    std::vector<double> sum(K, 0);
    std::vector<int> n(K, 0);
    for (size_t j = 0; j < x.size(); ++j) {
      if (i == j) continue;
      auto c = static_cast<size_t>(label[j]);
      sum[c] += std::sqrt(squared_distance(x[i], x[j]));
      ++n[c];
    }
    auto own = static_cast<size_t>(label[i]);
    double a = n[own] ? sum[own] / n[own] : 0, b = 1e300;
    for (size_t c = 0; c < K; ++c)
      if (c != own && n[c]) b = std::min(b, sum[c] / n[c]);
    total += (b == 1e300 || std::max(a, b) == 0) ? 0 : (b - a) / std::max(a, b);
  }
  return x.empty() ? 0 : total / double(x.size());
}

double adjusted_rand(const std::vector<int>& a, const std::vector<int>& b) {
  std::map<std::pair<int, int>, double> joint;
  std::map<int, double> ra, rb;
  for (size_t i = 0; i < a.size(); ++i) ++joint[{a[i], b[i]}], ++ra[a[i]], ++rb[b[i]];
  auto pairs = [](double n) { return n * (n - 1) / 2; };
  double index = 0, sa = 0, sb = 0;
  for (auto& [key, n] : joint) index += pairs(n);
  for (auto& [key, n] : ra) sa += pairs(n);
  for (auto& [key, n] : rb) sb += pairs(n);
  double expected = sa * sb / pairs(double(a.size())), max = (sa + sb) / 2;
  return max == expected ? 0 : (index - expected) / (max - expected);
}

Result<ClusterModel> ClusterModel::fit(const std::vector<ModeFeatures>& users,
                                       const ClusterOptions& options) {
  if (options.k_min < 2 || options.k_max < options.k_min || options.k_max > 32)
    return make_error(Errc::invalid_argument, "k must satisfy 2 <= k_min <= k_max <= 32");
  if (users.size() <= static_cast<size_t>(options.k_min))
    return make_error(Errc::invalid_argument,
                      "too few users to cluster: " + std::to_string(users.size()));
  ClusterModel model;
  const double n = static_cast<double>(users.size());
  for (const auto& x : users)
    for (size_t f = 0; f < kModeFeatureCount; ++f) model.mean_[f] += x[f] / n;
  for (const auto& x : users)
    for (size_t f = 0; f < kModeFeatureCount; ++f)
      model.scale_[f] += (x[f] - model.mean_[f]) * (x[f] - model.mean_[f]) / n;
  for (auto& s : model.scale_) s = s > 1e-12 ? std::sqrt(s) : 1;

  std::vector<std::vector<double>> fit_set;
  for (size_t i : sample(users.size(), options.max_fit_users, options.seed))
    fit_set.push_back(to_vector(model.standardize(users[i])));
  auto eval_index = sample(fit_set.size(), options.max_silhouette_users, options.seed + 1);
  std::vector<std::vector<double>> eval_set;
  for (size_t i : eval_index) eval_set.push_back(fit_set[i]);

  int max_k = std::min<int>(options.k_max, static_cast<int>(fit_set.size()) - 1);
  std::vector<int> best_label;
  double best_score = -2;
  for (int k = options.k_min; k <= max_k; ++k) {
    auto label = kmeans(fit_set, k, options.seed + static_cast<uint64_t>(k));
    std::vector<int> eval_label;
    for (size_t i : eval_index) eval_label.push_back(label[i]);
    double score = projections::silhouette(eval_set, eval_label, k);
    if (score > best_score) best_score = score, best_label = std::move(label);
  }
  int k = *std::max_element(best_label.begin(), best_label.end()) + 1;
  model.centers_.assign(static_cast<size_t>(k), ModeFeatures{});
  std::vector<double> count(static_cast<size_t>(k), 0);
  for (size_t i = 0; i < fit_set.size(); ++i) {
    auto c = static_cast<size_t>(best_label[i]);
    for (size_t f = 0; f < kModeFeatureCount; ++f) model.centers_[c][f] += fit_set[i][f];
    ++count[c];
  }
  for (size_t c = 0; c < model.centers_.size(); ++c)
    for (auto& v : model.centers_[c]) v /= std::max(1.0, count[c]);
  model.silhouette_ = best_score;
  model.sizes_.assign(model.centers_.size(), 0);
  for (const auto& x : users) ++model.sizes_[static_cast<size_t>(model.assign(x))];
  for (const auto& c : model.centers_) model.names_.push_back(name_of(c));
  return model;
}

ModeFeatures ClusterModel::standardize(const ModeFeatures& x) const {
  ModeFeatures z{};
  for (size_t f = 0; f < kModeFeatureCount; ++f) z[f] = (x[f] - mean_[f]) / scale_[f];
  return z;
}

int ClusterModel::assign(const ModeFeatures& x) const {
  auto z = standardize(x);
  int best = 0;
  double best_d = 1e300;
  for (size_t c = 0; c < centers_.size(); ++c) {
    double d = 0;
    for (size_t f = 0; f < kModeFeatureCount; ++f)
      d += (z[f] - centers_[c][f]) * (z[f] - centers_[c][f]);
    if (d < best_d) best_d = d, best = static_cast<int>(c);
  }
  return best;
}

std::string ClusterModel::name_for(int cluster, const ModeFeatures& x, double score) const {
  const auto& center = centers_[static_cast<size_t>(cluster)];
  auto own = standardize(x);
  for (size_t f : by_distinctiveness(center)) {
    if (std::abs(center[f]) < kDistinctive) break;
    bool high = center[f] > 0;
    if (high ? own[f] <= 0 : own[f] >= 0) continue;  // the user is on the other side
    if (kLatenessTrait[f] && high != (score >= kLateScore)) continue;
    return kModeWords[f][high ? 0 : 1];
  }
  return "typical";
}

v1::ClusterModelState ClusterModel::to_state() const {
  v1::ClusterModelState state;
  for (size_t f = 0; f < kModeFeatureCount; ++f) {
    state.add_mean(mean_[f]);
    state.add_scale(scale_[f]);
  }
  for (size_t c = 0; c < centers_.size(); ++c) {
    auto* center = state.add_centers();
    for (double v : centers_[c]) center->add_z(v);
    center->set_name(names_[c]);
    center->set_users(sizes_[c]);
  }
  state.set_silhouette(silhouette_);
  uint64_t users = 0;
  for (auto s : sizes_) users += s;
  state.set_users(users);
  return state;
}

ClusterModel ClusterModel::from_state(const v1::ClusterModelState& state) {
  ClusterModel model;
  for (size_t f = 0; f < kModeFeatureCount; ++f) {
    auto i = static_cast<int>(f);
    model.mean_[f] = i < state.mean_size() ? state.mean(i) : 0;
    model.scale_[f] = i < state.scale_size() && state.scale(i) > 0 ? state.scale(i) : 1;
  }
  for (const auto& center : state.centers()) {
    ModeFeatures z{};
    for (size_t f = 0; f < kModeFeatureCount && static_cast<int>(f) < center.z_size(); ++f)
      z[f] = center.z(static_cast<int>(f));
    model.centers_.push_back(z);
    model.names_.push_back(center.name());
    model.sizes_.push_back(center.users());
  }
  model.silhouette_ = state.silhouette();
  return model;
}

}  // namespace coach::projections
