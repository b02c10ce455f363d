#pragma once

#include <cstdint>
#include <string>

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

// Which local sockets count as "the node" and get the probe address (netfilter/README.md
// "Probe origin").
enum class ProbeOrigin {
  kAnyLocal,  // every socket of a process in the host namespace (`meta skuid >= 0`)
  kCgroup,    // only sockets created in the kubelet's cgroup v2 (or below it)
};

// The kubelet's cgroup as the kernel matches it: `socket cgroupv2 level N` compares the id of the
// socket's cgroup's ancestor at depth `level` (the root is level 0) with `id`. The id is the
// cgroup directory's kernfs id (its inode number): a cgroup deleted and made again under the same
// path has a new one.
struct KubeletCgroup {
  std::string path;  // relative to the cgroup v2 root, e.g. "system.slice/kubelet.service"
  uint64_t id = 0;   // 0: not resolved; no cgroup has it, so the rule matches nothing
  uint32_t level = 0;
  // The path as `nft list` prints it (relative to /sys/fs/cgroup); only the rule's text uses it.
  std::string nft_path;

  bool operator==(const KubeletCgroup&) const = default;
};

// The connection-mark bit that says "created by the kubelet" (cgroup origin). A ct mark, not a
// packet mark: kube-proxy's 0x4000/0x8000, Calico's 0xffff0000 and Cilium's 0x0f00/0xffff0000 are
// packet marks; the pod tables' connection mark (0x111/0xfff) lives in pod namespaces' conntrack
// and Istio ambient's host ct marks are 0x2xx. Bits of our own are kept, other bits untouched.
inline constexpr uint32_t kDefaultOriginCtMark = 0x00100000;

// What the host (node) namespace table does: SNAT node-originated TCP towards enrolled pod IPs.
struct HostRules {
  IpAddress probe_v4 = DefaultProbeV4();
  IpAddress probe_v6 = DefaultProbeV6();
  ProbeOrigin origin = ProbeOrigin::kAnyLocal;
  KubeletCgroup kubelet_cgroup;  // kCgroup only
  uint32_t origin_ct_mark = kDefaultOriginCtMark;  // kCgroup only; one or more bits

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
