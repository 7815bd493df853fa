// The Prometheus text exposition format (version 0.0.4) of an OpsSnapshot:
// what GET /metrics answers. Names follow Prometheus conventions: a coach_
// prefix, base units (seconds), _total on counters, histograms as cumulative
// _bucket{le=...} series with _sum and _count.
#pragma once

#include <string>

#include "schema/commands.pb.h"

namespace coach::actors {

inline constexpr const char* kPrometheusContentType = "text/plain; version=0.0.4; charset=utf-8";

std::string prometheus_text(const v1::OpsSnapshot& snapshot);

}  // namespace coach::actors
