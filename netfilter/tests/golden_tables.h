#pragma once

// The tables whose `nft list` text is kept in tests/goldens/NAME.nft: compared with what the
// builder prints (nft_ruleset_test), with what the kernel lists after ApplyPod/EnsureHost and
// compiled by nft itself into our bytecode (nftables_backend_test).
// PROBESNAT_REGENERATE_GOLDENS=1 rewrites the files from the builder instead of comparing.

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "netfilter/nft_ruleset.h"
#include "netfilter/rules_spec.h"

namespace probesnat::netfilter::testing {

inline HostRules CustomHostRules() {
  HostRules r;
  r.probe_v4 = *IpAddress::Parse("169.254.99.1");
  r.probe_v6 = *IpAddress::Parse("fd00:99::1");
  return r;
}

// Cgroup origin with a cgroup that need not exist (the text is the builder's; the real-kernel
// tests in cgroup_origin_packets_test.cc check it against nft with a real cgroup).
inline HostRules KubeletCgroupHostRules() {
  HostRules r;
  r.origin = ProbeOrigin::kCgroup;
  r.kubelet_cgroup = {.path = "system.slice/kubelet.service",
                      .id = 4242,
                      .level = 2,
                      .nft_path = "system.slice/kubelet.service"};
  return r;
}

// Non-default values everywhere, inbound capture off.
inline PodRules CustomPodRules() {
  PodRules r;
  r.probe_v4 = *IpAddress::Parse("169.254.99.1");
  r.probe_v6 = *IpAddress::Parse("fd00:99::1");
  r.tunnel_port = 16008;
  r.inbound_capture_port = 16006;
  r.outbound_capture_port = 16001;
  r.proxy_mark = 0x42;
  r.proxy_mask = 0xff;
  r.connection_mark = 0x200;
  r.connection_mask = 0xf00;
  r.inbound_capture = false;
  return r;
}

inline PodRules EnrolledWithOnly(IpFamily family) {
  PodRules r;
  r.enrolled_v4 = family == IpFamily::kV4;
  r.enrolled_v6 = family == IpFamily::kV6;
  return r;
}

inline PodRules WithCapture(bool inbound, bool outbound) {
  PodRules r;
  r.inbound_capture = inbound;
  r.outbound_capture = outbound;
  return r;
}

struct GoldenTable {
  std::string name;  // tests/goldens/<name>.nft
  bool host = false;
  HostRules host_rules;
  PodRules pod_rules;

  NftTable Build() const { return host ? BuildHostTable(host_rules) : BuildPodTable(pod_rules); }
};

inline std::vector<GoldenTable> GoldenTables() {
  return {
      {"host_default", true, HostRules{}, {}},
      {"host_custom", true, CustomHostRules(), {}},
      {"host_cgroup", true, KubeletCgroupHostRules(), {}},
      {"pod_default", false, {}, PodRules{}},
      {"pod_custom_no_inbound", false, {}, CustomPodRules()},
      {"pod_no_outbound", false, {}, WithCapture(true, false)},
      {"pod_no_capture", false, {}, WithCapture(false, false)},
      {"pod_v4_only", false, {}, EnrolledWithOnly(IpFamily::kV4)},
      {"pod_v6_only", false, {}, EnrolledWithOnly(IpFamily::kV6)},
  };
}

inline std::string GoldenPath(const std::string& name) {
  return std::string(NETFILTER_GOLDENS_DIR) + "/" + name + ".nft";
}

inline bool RegeneratingGoldens() {
  const char* v = std::getenv("PROBESNAT_REGENERATE_GOLDENS");
  return v != nullptr && std::string(v) == "1";
}

// The file's contents, or empty if it cannot be read.
inline std::string ReadGolden(const std::string& name) {
  std::ifstream in(GoldenPath(name));
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

inline bool WriteGolden(const std::string& name, const std::string& text) {
  std::ofstream out(GoldenPath(name), std::ios::trunc);
  out << text;
  return static_cast<bool>(out);
}

}  // namespace probesnat::netfilter::testing
