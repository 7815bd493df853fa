#include "projections/procrastination_model.h"

#include <algorithm>
#include <cmath>
#include <sstream>

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
  ProcrastinationModel m;
  std::array<int, kFeatureCount> seen_weight{}, seen_reference{};
  std::istringstream in{std::string(text)};
  std::string word;
  bool has_version = false, has_bias = false;
  while (in >> word) {
    if (word == "#") {
      std::getline(in, word);
      continue;
    }
    if (word == "version") {
      has_version = static_cast<bool>(in >> m.version);
    } else if (word == "bias") {
      has_bias = static_cast<bool>(in >> m.bias);
    } else if (word == "weight" || word == "reference") {
      std::string name;
      double value = 0;
      if (!(in >> name >> value)) return make_error(Errc::invalid_argument, "model: bad " + word);
      auto at = std::find(kFeatureNames.begin(), kFeatureNames.end(), name);
      if (at == kFeatureNames.end())
        return make_error(Errc::invalid_argument, "model: unknown feature " + name);
      size_t i = static_cast<size_t>(at - kFeatureNames.begin());
      (word == "weight" ? m.weights : m.reference)[i] = value;
      ++(word == "weight" ? seen_weight : seen_reference)[i];
    } else {
      return make_error(Errc::invalid_argument, "model: unknown line starting with " + word);
    }
  }
  for (size_t i = 0; i < kFeatureCount; ++i)
    if (seen_weight[i] != 1 || seen_reference[i] != 1)
      return make_error(Errc::invalid_argument,
                        "model: feature " + std::string(kFeatureNames[i]) + " must appear once");
  if (!has_version || !has_bias)
    return make_error(Errc::invalid_argument, "model: version and bias are required");
  return m;
}

std::string ProcrastinationModel::to_text() const {
  std::ostringstream out;
  out.precision(6);
  out << "version " << version << "\nbias " << bias << "\n";
  for (size_t i = 0; i < kFeatureCount; ++i)
    out << "weight " << kFeatureNames[i] << " " << weights[i] << "\n";
  for (size_t i = 0; i < kFeatureCount; ++i)
    out << "reference " << kFeatureNames[i] << " " << reference[i] << "\n";
  return out.str();
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
