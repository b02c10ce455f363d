#include "agent/domain/pod_spec.h"

#include "absl/strings/ascii.h"

namespace probesnat::agent {

absl::string_view ProtocolName(Protocol p) {
  switch (p) {
    case Protocol::kTCP:
      return "TCP";
    case Protocol::kUDP:
      return "UDP";
    case Protocol::kSCTP:
      return "SCTP";
  }
  return "?";
}

std::optional<Protocol> ParseProtocol(absl::string_view name) {
  std::string upper = absl::AsciiStrToUpper(name);
  if (upper == "TCP") {
    return Protocol::kTCP;
  }
  if (upper == "UDP") {
    return Protocol::kUDP;
  }
  if (upper == "SCTP") {
    return Protocol::kSCTP;
  }
  return std::nullopt;
}

}  // namespace probesnat::agent
