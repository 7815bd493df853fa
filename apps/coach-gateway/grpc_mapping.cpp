#include "apps/coach-gateway/grpc_mapping.h"

#include <cctype>
#include <map>

namespace coach::apps {

std::string grpc_method_name(std::string_view operation) {
  std::string out;
  bool upper = true;
  for (char c : operation) {
    if (c == '.' || c == '_') {
      upper = true;
      continue;
    }
    out += upper ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : c;
    upper = false;
  }
  return out;
}

int grpc_code_for(std::string_view code) {
  static const std::map<std::string_view, int> codes = {
      {"invalid_argument", 3},
      {"empty_batch", 3},
      {"malformed_event", 3},
      {"payload_too_large", 3},
      {"not_found", 5},
      {"unknown_stream", 5},
      {"conflict", 10},
      {"wrong_expected_version", 10},
      {"sequence_gap", 10},
      {"user_mismatch", 9},
      {"busy", 8},
      {"resource_exhausted", 8},
      {"cancelled", 1},
      {"timeout", 4},
      {"unauthenticated", 16},
      {"permission_denied", 7},
      {"unavailable", 14},
      {"io_error", 14},
      {"corrupted", 15},
      {"internal", 13},
  };
  auto it = codes.find(code);
  return it == codes.end() ? 13 : it->second;
}

int http_status_for(std::string_view code) {
  switch (grpc_code_for(code)) {
    case 3:
    case 9:
      return 400;
    case 16:
      return 401;
    case 7:
      return 403;
    case 5:
      return 404;
    case 10:
      return 409;
    case 8:
      return 429;
    case 14:
      return 503;
    case 4:
      return 504;
    case 1:
      return 499;
    default:
      return 500;
  }
}

}  // namespace coach::apps
