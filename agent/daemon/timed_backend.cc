#include "agent/daemon/timed_backend.h"

#include <chrono>

namespace probesnat::daemon {

template <typename Call>
absl::Status TimedBackend::Timed(DaemonObserver::NetnsKind kind, Call call) {
  const auto start = std::chrono::steady_clock::now();
  absl::Status st = call();
  observer_.OnKernelTransaction(kind, absl::FromChrono(std::chrono::steady_clock::now() - start),
                                st.ok());
  return st;
}

absl::Status TimedBackend::EnsureHost(const netfilter::HostRules& rules) {
  return Timed(DaemonObserver::NetnsKind::kHost, [&] { return inner_.EnsureHost(rules); });
}

absl::Status TimedBackend::UpdateHostMembers(const std::vector<netfilter::HostMember>& add,
                                             const std::vector<IpAddress>& remove) {
  return Timed(DaemonObserver::NetnsKind::kHost,
               [&] { return inner_.UpdateHostMembers(add, remove); });
}

absl::Status TimedBackend::RemoveHost() {
  return Timed(DaemonObserver::NetnsKind::kHost, [&] { return inner_.RemoveHost(); });
}

absl::Status TimedBackend::ApplyPod(const netfilter::NetnsHandle& netns,
                                    const netfilter::PodRules& rules,
                                    const netfilter::TableOwner& owner) {
  return Timed(DaemonObserver::NetnsKind::kPod,
               [&] { return inner_.ApplyPod(netns, rules, owner); });
}

absl::Status TimedBackend::RemovePod(const netfilter::NetnsHandle& netns) {
  return Timed(DaemonObserver::NetnsKind::kPod, [&] { return inner_.RemovePod(netns); });
}

}  // namespace probesnat::daemon
