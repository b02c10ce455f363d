#pragma once

#include <cstdint>

#include "base/ip_address.h"

namespace probesnat::netfilter {

// Name of the table probesnat owns, in the host namespace and in every pod namespace (family inet).
inline constexpr char kTableName[] = "probesnat";

// The probe SNAT address the mesh proxy expects by default (DESIGN.md).
inline IpAddress DefaultProbeV4() { return IpAddress::V4({169, 254, 7, 127}); }
inline IpAddress DefaultProbeV6() {
  return IpAddress::V6({0xfd, 0x16, 0x92, 0x54, 0x71, 0x27, 0x13, 0x37, 0xff, 0xff, 0xff, 0xff,
                        0xff, 0xff, 0xff, 0xff});
}

// What the host (node) namespace table does: SNAT node-originated TCP towards enrolled pod IPs.
struct HostRules {
  IpAddress probe_v4 = DefaultProbeV4();
  IpAddress probe_v6 = DefaultProbeV6();

  bool operator==(const HostRules&) const = default;
};

// What a pod namespace table does (DESIGN.md "In-pod behaviour").
struct PodRules {
  IpAddress probe_v4 = DefaultProbeV4();
  IpAddress probe_v6 = DefaultProbeV6();
  uint16_t tunnel_port = 15008;
  uint16_t inbound_capture_port = 15006;
  uint16_t outbound_capture_port = 15001;
  uint32_t proxy_mark = 0x539;
  uint32_t proxy_mask = 0xfff;
  uint32_t connection_mark = 0x111;
  uint32_t connection_mask = 0xfff;
  bool inbound_capture = true;
  bool outbound_capture = true;
  // The families the pod is enrolled with. Only for those does the host SNAT node-originated
  // probes to the probe address, so only for those does TCP from the probe address skip inbound
  // capture; for the other family it is captured like any other inbound TCP (a forgery: the host's
  // anti-spoofing drop matches enrolled destination addresses only).
  bool enrolled_v4 = true;
  bool enrolled_v6 = true;

  bool operator==(const PodRules&) const = default;
};

}  // namespace probesnat::netfilter
