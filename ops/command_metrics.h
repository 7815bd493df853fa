// CommandMetrics: per API operation, how many requests were answered, how
// many with an error, and how long each took from arrival to reply. The set
// of operations is fixed (the operation table), so recording takes no lock
// and a request's slot is its row's index: no lookup by name.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/histogram.h"
#include "schema/commands.pb.h"
#include "wire/operations.h"

namespace coach::actors {

class CommandMetrics {
 public:
  // The name under which requests without a known operation are counted.
  static constexpr std::string_view kInvalid = "invalid";

  CommandMetrics();
  ~CommandMetrics();
  CommandMetrics(const CommandMetrics&) = delete;
  CommandMetrics& operator=(const CommandMetrics&) = delete;

  // The slot of an operation's row (its index); null (an unknown
  // operation) is kInvalid's.
  size_t slot(const Operation* operation) const;
  // The same by name ("task.create"); unknown names share kInvalid's.
  size_t slot(std::string_view operation) const;
  void record(size_t slot, bool error, std::chrono::steady_clock::duration took);

  // Every operation, in operation_table() order, then kInvalid.
  std::vector<v1::CommandFigures> snapshot() const;

 private:
  struct Figures;
  std::vector<std::unique_ptr<Figures>> figures_;
};

// A protobuf Histogram of a snapshot.
v1::Histogram to_proto(const coach::HistogramSnapshot& snapshot);

}  // namespace coach::actors
