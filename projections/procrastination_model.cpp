#include "projections/procrastination_model.h"

#include <algorithm>
#include <cmath>

#include "projections/logistic_model.h"

namespace coach::projections {

// The text of models/procrastination-<version>.txt this build ships,
// embedded at build time (projections/CMakeLists.txt).
extern const char* const kBuiltinModelText;

Features features_of(const BehaviorSignals& s, uint64_t overdue_open) {
  double bad = static_cast<double>(s.late + overdue_open);
  double known = static_cast<double>(s.completions_with_due + overdue_open);
  return {
      (bad + 1) / (known + 4),
      s.share_very_late(),
      s.lateness_hours.count ? std::clamp(s.lateness_hours.mean / 24, -14.0, 14.0) : 0.0,
      s.tension.count ? s.tension.mean : 0.0,
      std::log1p(static_cast<double>(overdue_open)),
      std::log1p(static_cast<double>(s.completions_with_due)),
  };
}

double ProcrastinationModel::score(const Features& x) const {
  double z = bias;
  for (size_t i = 0; i < kFeatureCount; ++i) z += weights[i] * x[i];
  return 1 / (1 + std::exp(-z));
}

Features ProcrastinationModel::contributions(const Features& x) const {
  Features c{};
  for (size_t i = 0; i < kFeatureCount; ++i) c[i] = weights[i] * (x[i] - reference[i]);
  return c;
}

Result<ProcrastinationModel> ProcrastinationModel::parse(std::string_view text) {
  auto read = LogisticModel::parse(text, kFeatureNames);
  if (!read) return read.error();
  ProcrastinationModel m;
  m.version = read->version;
  m.bias = read->bias;
  std::copy(read->weights.begin(), read->weights.end(), m.weights.begin());
  std::copy(read->reference.begin(), read->reference.end(), m.reference.begin());
  return m;
}

std::string ProcrastinationModel::to_text() const {
  LogisticModel m{
      version, bias, {weights.begin(), weights.end()}, {reference.begin(), reference.end()}};
  return m.to_text(kFeatureNames);
}

const ProcrastinationModel& ProcrastinationModel::builtin() {
  static const ProcrastinationModel model = [] {
    auto parsed = parse(kBuiltinModelText);
    if (!parsed) std::abort();  // the build embeds a checked file (tests parse it)
    return std::move(*parsed);
  }();
  return model;
}

}  // namespace coach::projections
