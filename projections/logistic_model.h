// LogisticModel: a logistic regression over named features, as kept in the
// versioned files of models/ (issue 22). The file format, one item a line:
//
//   # a comment (who fitted it, with which command, on what)
//   version <v>
//   bias <b>
//   weight <feature name> <w>      (every feature once)
//   reference <feature name> <x>   (every feature once: the training mean)
//
// Pure values; thread-safe to read.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace coach::projections {

struct LogisticModel {
  // Reads a model over exactly `names`; invalid_argument naming the first
  // problem (an unknown or repeated feature, a missing one, no version or
  // bias, a line it cannot read).
  static Result<LogisticModel> parse(std::string_view text,
                                     std::span<const std::string_view> names);
  // The file text (no comments), read back by parse with the same names.
  std::string to_text(std::span<const std::string_view> names) const;

  // P(positive | x) in (0, 1); x holds one value per feature.
  double score(std::span<const double> x) const;
  // How much each feature moves the log-odds from the reference (training
  // mean) input: weight * (x - reference), for explanations.
  std::vector<double> contributions(std::span<const double> x) const;

  std::string version;
  double bias = 0;
  std::vector<double> weights;    // one per feature
  std::vector<double> reference;  // one per feature
};

}  // namespace coach::projections
