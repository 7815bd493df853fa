#include "base/partition.h"

namespace coach {

uint32_t partition_of(const Uuid& user, uint32_t partitions) {
  uint32_t h = 0x811c9dc5u;
  for (uint8_t b : user.bytes()) h = (h ^ b) * 0x01000193u;
  return h % (partitions ? partitions : 1);
}

uint64_t rendezvous_weight(std::string_view node_id, uint32_t partition) {
  uint64_t h = 0xcbf29ce484222325ull;
  auto mix = [&](char c) { h = (h ^ static_cast<uint8_t>(c)) * 0x100000001b3ull; };
  for (char c : node_id) mix(c);
  mix('/');
  for (char c : std::to_string(partition)) mix(c);
  // FNV's low bits mix poorly for inputs that differ only at the end: one
  // round of a 64-bit finalizer (splitmix64's) spreads them.
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebull;
  h ^= h >> 31;
  return h;
}

}  // namespace coach
