#pragma once

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "netfilter/backend.h"

namespace probesnat::netfilter {

// The nf_tables backend: speaks netlink (libnftnl + libmnl) directly, one atomic batch per change
// per namespace, and reads tables back over netlink. The host side is the namespace of the
// calling process (where the factory is called).
absl::StatusOr<std::unique_ptr<Backend>> MakeNftablesBackend();

// Same, with the host side in the network namespace at `host_netns_path` (tests, integration
// harness). NOT_FOUND / INVALID_ARGUMENT as OpenNetns.
absl::StatusOr<std::unique_ptr<Backend>> MakeNftablesBackend(const std::string& host_netns_path);

// Points where tests interleave their own changes with the backend's.
struct NftablesBackendHooks {
  // In EnsureHost, after the host table was read and before the replacement is committed.
  std::function<void()> before_host_commit;
};
absl::StatusOr<std::unique_ptr<Backend>> MakeNftablesBackend(const std::string& host_netns_path,
                                                             NftablesBackendHooks hooks);

}  // namespace probesnat::netfilter
