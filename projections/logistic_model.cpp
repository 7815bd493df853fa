#include "projections/logistic_model.h"

#include <algorithm>
#include <cmath>
#include <sstream>

namespace coach::projections {

Result<LogisticModel> LogisticModel::parse(std::string_view text,
                                           std::span<const std::string_view> names) {
  LogisticModel m;
  m.weights.assign(names.size(), 0);
  m.reference.assign(names.size(), 0);
  std::vector<int> seen_weight(names.size()), seen_reference(names.size());
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
      auto at = std::find(names.begin(), names.end(), name);
      if (at == names.end())
        return make_error(Errc::invalid_argument, "model: unknown feature " + name);
      size_t i = static_cast<size_t>(at - names.begin());
      (word == "weight" ? m.weights : m.reference)[i] = value;
      ++(word == "weight" ? seen_weight : seen_reference)[i];
    } else {
      return make_error(Errc::invalid_argument, "model: unknown line starting with " + word);
    }
  }
  for (size_t i = 0; i < names.size(); ++i)
    if (seen_weight[i] != 1 || seen_reference[i] != 1)
      return make_error(Errc::invalid_argument,
                        "model: feature " + std::string(names[i]) + " must appear once");
  if (!has_version || !has_bias)
    return make_error(Errc::invalid_argument, "model: version and bias are required");
  return m;
}

std::string LogisticModel::to_text(std::span<const std::string_view> names) const {
  std::ostringstream out;
  out.precision(6);
  out << "version " << version << "\nbias " << bias << "\n";
  for (size_t i = 0; i < names.size(); ++i)
    out << "weight " << names[i] << " " << weights[i] << "\n";
  for (size_t i = 0; i < names.size(); ++i)
    out << "reference " << names[i] << " " << reference[i] << "\n";
  return out.str();
}

double LogisticModel::score(std::span<const double> x) const {
  double z = bias;
  for (size_t i = 0; i < weights.size() && i < x.size(); ++i) z += weights[i] * x[i];
  return 1 / (1 + std::exp(-z));
}

std::vector<double> LogisticModel::contributions(std::span<const double> x) const {
  std::vector<double> c(weights.size());
  for (size_t i = 0; i < weights.size() && i < x.size(); ++i)
    c[i] = weights[i] * (x[i] - reference[i]);
  return c;
}

}  // namespace coach::projections
