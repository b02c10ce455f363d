#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "netfilter/testing/scoped_netns.h"

namespace probesnat::integration {

// Addresses used by every topology. They exist only inside the namespaces the harness creates.
inline constexpr char kNodeV4[] = "10.244.1.1";  // the node's address on every pod-facing veth
inline constexpr char kNodeV6[] = "fd00:244:1::1";
inline constexpr char kNodeOutsideV4[] = "10.99.0.1";  // the node's address towards "outside"
inline constexpr char kNodeOutsideV6[] = "fd00:99::1";
inline constexpr char kOutsideV4[] = "10.99.0.2";
inline constexpr char kOutsideV6[] = "fd00:99::2";

// One pod: a namespace whose eth0 is a veth to the node, with one IPv4 and one IPv6 address.
struct PodNetwork {
  std::optional<netfilter::testing::ScopedNetns> ns;  // empty once deleted
  std::string label;
  std::string v4;       // e.g. 10.244.1.10
  std::string v6;       // e.g. fd00:244:1::10
  std::string node_if;  // the veth end in the node namespace

  const std::string& name() const { return ns->name(); }
  std::string path() const { return ns->path(); }
};

// A small Kubernetes-node look-alike built from network namespaces:
//
//   outside(eth0 10.99.0.2) ── (vout 10.99.0.1) node (vp0, vp1, ... 10.244.1.1) ── eth0 pod i
//
// Pods have a /32 and /128 address and a default route via the node (10.244.1.1 / fd00:244:1::1);
// the node has one /32 and /128 route per pod through the pod's veth and forwards (v4 and v6, set
// inside the node namespace only). IPv6 addresses are added with nodad so they are usable at once.
// Pod i gets 10.244.1.(10 * (i + 1)) and fd00:244:1::(10 * (i + 1)) (hex digits, i.e. ::10, ::20).
// The machine's own namespace is never touched; every namespace is removed on destruction.
class Topology {
 public:
  struct Options {
    int pods = 2;
    bool outside = true;
  };

  static absl::StatusOr<std::unique_ptr<Topology>> Create(const Options& options);
  static absl::StatusOr<std::unique_ptr<Topology>> Create() { return Create(Options{}); }

  const netfilter::testing::ScopedNetns& node() const { return *node_; }
  const netfilter::testing::ScopedNetns& outside() const { return *outside_; }
  bool has_outside() const { return outside_.has_value(); }
  PodNetwork& pod(size_t i) { return pods_.at(i); }
  size_t pod_count() const { return pods_.size(); }

  // Deletes pod i's namespace (and with it its veth pair), as when a pod sandbox goes away.
  void DeletePod(size_t i);

 private:
  Topology() = default;
  absl::Status AddPod(int index);
  absl::Status AddOutside();

  std::optional<netfilter::testing::ScopedNetns> node_;
  std::optional<netfilter::testing::ScopedNetns> outside_;
  std::vector<PodNetwork> pods_;
};

// Runs `command` inside namespace `ns` (ip netns exec); returns an error naming both if it fails.
absl::Status RunIn(const std::string& ns, const std::string& command);
absl::StatusOr<std::string> CaptureIn(const std::string& ns, const std::string& command);

}  // namespace probesnat::integration
