#pragma once

#include <string>
#include <vector>

#include "agent/daemon/daemon_observer.h"
#include "netfilter/backend.h"

namespace probesnat::daemon {

// A netfilter::Backend that forwards every call to `inner` and reports how long each mutating
// transaction took (host: EnsureHost, UpdateHostMembers, RemoveHost; pod: ApplyPod, RemovePod) to
// `observer`. Read-backs and namespace opening are forwarded untimed. Costs two clock reads per
// transaction.
class TimedBackend final : public netfilter::Backend {
 public:
  TimedBackend(netfilter::Backend& inner, DaemonObserver& observer)
      : inner_(inner), observer_(observer) {}

  using netfilter::Backend::ApplyPod;
  using netfilter::Backend::ObservePod;
  using netfilter::Backend::RemovePod;

  absl::Status EnsureHost(const netfilter::HostRules& rules) override;
  absl::Status UpdateHostMembers(const std::vector<netfilter::HostMember>& add,
                                 const std::vector<IpAddress>& remove) override;
  absl::StatusOr<netfilter::HostObservation> ObserveHost(
      const netfilter::HostRules& rules) override {
    return inner_.ObserveHost(rules);
  }
  absl::Status RemoveHost() override;
  absl::StatusOr<netfilter::NetnsHandle> OpenPodNetns(const std::string& netns_path) override {
    return inner_.OpenPodNetns(netns_path);
  }
  absl::StatusOr<netfilter::NetnsHandle> OpenPodNetnsBeneath(
      const std::string& root, const std::string& netns_path) override {
    return inner_.OpenPodNetnsBeneath(root, netns_path);
  }
  absl::Status ApplyPod(const netfilter::NetnsHandle& netns, const netfilter::PodRules& rules,
                        const netfilter::TableOwner& owner) override;
  absl::Status RemovePod(const netfilter::NetnsHandle& netns) override;
  absl::StatusOr<netfilter::PodObservation> ObservePod(const netfilter::NetnsHandle& netns,
                                                       const netfilter::PodRules& rules) override {
    return inner_.ObservePod(netns, rules);
  }

 private:
  template <typename Call>
  absl::Status Timed(DaemonObserver::NetnsKind kind, Call call);

  netfilter::Backend& inner_;
  DaemonObserver& observer_;
};

}  // namespace probesnat::daemon
