#pragma once

#include <cstdint>

namespace probesnat {

inline constexpr int kMinPort = 1;
inline constexpr int kMaxPort = 65535;

// A TCP/UDP/SCTP port number a service can use: 1-65535 (0 is not one).
constexpr bool IsPort(int64_t value) { return value >= kMinPort && value <= kMaxPort; }

}  // namespace probesnat
