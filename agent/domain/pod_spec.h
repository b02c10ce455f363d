#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "base/ip_address.h"

namespace probesnat::agent {

enum class Protocol { kTCP, kUDP, kSCTP };
absl::string_view ProtocolName(Protocol p);  // "TCP", "UDP", "SCTP"
// Case-insensitive "TCP", "UDP", "SCTP".
std::optional<Protocol> ParseProtocol(absl::string_view name);

struct ContainerPort {
  std::string name;  // IANA service name, may be empty
  uint16_t port = 0;
  Protocol protocol = Protocol::kTCP;

  bool operator==(const ContainerPort&) const = default;
};

struct PodOverrides {
  bool disable_inbound_capture = false;  // tunnel and probes still work
  bool disable_outbound_capture = false;

  bool operator==(const PodOverrides&) const = default;
};

// A pod as the mesh control plane (or the CNI plugin) asks for it to be enrolled.
struct PodSpec {
  std::string uid;  // Kubernetes pod UID; the identity of an enrollment
  std::string ns;   // Kubernetes namespace
  std::string name;
  std::map<std::string, std::string> labels;
  std::vector<IpAddress> ips;  // sorted; at most one per family
  std::string netns_path;      // e.g. /var/run/netns/cni-..., /proc/<pid>/ns/net
  std::vector<ContainerPort> container_ports;
  std::vector<uint16_t> probe_ports;  // ports kubelet probes (httpGet/tcpSocket/grpc)
  PodOverrides overrides;

  bool operator==(const PodSpec&) const = default;

  // "ns/name".
  std::string Key() const { return ns + "/" + name; }
  // "ns/name (uid U)", for messages.
  std::string DisplayName() const { return ns + "/" + name + " (uid " + uid + ")"; }
};

}  // namespace probesnat::agent
