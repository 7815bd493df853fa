#include "ops/command_metrics.h"

#include <atomic>

namespace coach::actors {

struct CommandMetrics::Figures {
  std::string operation;
  std::atomic<uint64_t> errors{0};
  coach::Histogram seconds{coach::Histogram::latency_bounds()};
};

CommandMetrics::CommandMetrics() {
  for (const auto& row : operation_table()) {
    figures_.push_back(std::make_unique<Figures>());
    figures_.back()->operation = row.name;
  }
  figures_.push_back(std::make_unique<Figures>());
  figures_.back()->operation = std::string(kInvalid);
}

CommandMetrics::~CommandMetrics() = default;

size_t CommandMetrics::slot(const Operation* operation) const {
  return operation ? operation->index : figures_.size() - 1;
}

size_t CommandMetrics::slot(std::string_view operation) const {
  return slot(find_operation(operation));
}

void CommandMetrics::record(size_t slot, bool error, std::chrono::steady_clock::duration took) {
  auto& f = *figures_.at(slot);
  if (error) f.errors.fetch_add(1, std::memory_order_relaxed);
  f.seconds.observe(std::chrono::duration<double>(took).count());
}

std::vector<v1::CommandFigures> CommandMetrics::snapshot() const {
  std::vector<v1::CommandFigures> out;
  out.reserve(figures_.size());
  for (const auto& f : figures_) {
    v1::CommandFigures figures;
    figures.set_operation(f->operation);
    *figures.mutable_seconds() = to_proto(f->seconds.snapshot());
    figures.set_count(figures.seconds().count());
    figures.set_errors(f->errors.load(std::memory_order_relaxed));
    out.push_back(std::move(figures));
  }
  return out;
}

v1::Histogram to_proto(const coach::HistogramSnapshot& snapshot) {
  v1::Histogram h;
  h.mutable_upper_bounds()->Add(snapshot.upper_bounds.begin(), snapshot.upper_bounds.end());
  h.mutable_counts()->Add(snapshot.counts.begin(), snapshot.counts.end());
  h.set_sum(snapshot.sum);
  h.set_count(snapshot.count);
  return h;
}

}  // namespace coach::actors
