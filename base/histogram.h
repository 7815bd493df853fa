// Histogram: how many observations fell in each of a fixed set of buckets,
// plus their count and sum. Lock-free (atomics), so hot paths (appends,
// replies) can observe without contention. Buckets follow Prometheus: each
// has an upper bound ("le"), and a last one takes everything above.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

namespace coach {

struct HistogramSnapshot {
  std::vector<double> upper_bounds;  // ascending
  std::vector<uint64_t> counts;      // per bucket, not cumulative; one more than upper_bounds
  double sum = 0;
  uint64_t count = 0;
};

class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  void observe(double value);
  HistogramSnapshot snapshot() const;

  // Bounds in seconds from 100 us to 10 s, for latencies.
  static std::vector<double> latency_bounds();
  // 1, 2, 4, ... 1024, for sizes of batches.
  static std::vector<double> size_bounds();

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;
  std::atomic<double> sum_{0};
};

}  // namespace coach
