// Fuzzes everything a NATS request brings from outside: the body of any
// operation (JSON or protobuf), the bearer token and the user id header.
// Input: byte 0 picks the operation and encoding, the rest is the body; the
// same bytes are also tried as a token and as a UUID.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "base/ids.h"
#include "wire/api_codec.h"
#include "wire/auth.h"

using namespace coach;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto signer = actors::TokenSigner::random();
  static const auto verifier = signer.verifier();
  if (size == 0) return 0;
  const auto& operations = actors::api_operations();
  auto operation = operations[data[0] % operations.size()];
  auto encoding = (data[0] & 0x80) ? actors::Encoding::protobuf : actors::Encoding::json;
  std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);

  auto command = actors::decode_command(operation, body, encoding);
  if (command) {
    // Whatever decodes must encode and decode again to the same command.
    auto encoded = actors::encode_command(operation, *command, encoding);
    if (!encoded) std::abort();
    auto again = actors::decode_command(operation, *encoded, encoding);
    if (!again || again->SerializeAsString() != command->SerializeAsString()) std::abort();
  }
  (void)verifier.verify(body, std::chrono::system_clock::now());
  (void)Uuid::parse(body);
  auto reply = actors::decode_reply(body, encoding);
  if (reply) (void)actors::encode_reply(*reply, actors::Encoding::json);
  return 0;
}
