#pragma once

#include <compare>
#include <cstdint>

namespace probesnat {

// Identity of a network namespace (device and inode of its nsfs file): equal for any two handles
// of the same namespace, whatever paths they were opened by.
struct NetnsId {
  uint64_t dev = 0;
  uint64_t ino = 0;
  bool operator==(const NetnsId&) const = default;
  auto operator<=>(const NetnsId&) const = default;
};

}  // namespace probesnat
