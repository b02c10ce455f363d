#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "netfilter/rules_spec.h"

namespace probesnat::netfilter {

// The mount point of the cgroup v2 hierarchy's root in `mountinfo` (/proc/self/mountinfo): the
// first cgroup2 mount whose root is "/" (on a hybrid host /sys/fs/cgroup/unified, on a unified
// one /sys/fs/cgroup). NOT_FOUND when there is none (cgroup v1 only).
absl::StatusOr<std::string> FindCgroup2Root(const std::string& mountinfo);

// `path` (relative to `cgroup_root`; leading and trailing '/' allowed) as the kernel matches it:
// its id (the directory's inode number: the cgroup's kernfs id on 64-bit kernels, what nft
// resolves a path to) and its level (number of components). NOT_FOUND when the directory does
// not exist; INVALID_ARGUMENT for the root itself or a path with "." or "..".
absl::StatusOr<KubeletCgroup> ResolveCgroup(const std::string& cgroup_root,
                                            const std::string& path);

}  // namespace probesnat::netfilter
