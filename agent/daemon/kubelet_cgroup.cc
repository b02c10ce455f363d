#include "agent/daemon/kubelet_cgroup.h"

#include <dirent.h>
#include <sys/stat.h>

#include <cerrno>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "netfilter/cgroup_v2.h"
#include "spdlog/spdlog.h"

namespace probesnat::daemon {
namespace {

// Process names that run the kubelet: kubelet (kubeadm, k0s), kubelite (microk8s), k3s's server
// and agent (the kubelet runs inside them).
constexpr const char* kKubeletProcesses[] = {"kubelet", "kubelite", "k3s-server", "k3s-agent"};
// Where the kubelet's systemd unit puts it when no process is found.
constexpr const char* kKubeletUnits[] = {
    "system.slice/kubelet.service", "system.slice/k3s.service", "system.slice/k3s-agent.service",
    "system.slice/k0sworker.service", "system.slice/snap.microk8s.daemon-kubelite.service"};

std::string ReadFirstLine(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

// The cgroup v2 path in a /proc/<pid>/cgroup file ("0::/system.slice/kubelet.service"), without
// its leading '/'; nullopt for the root, for a path outside our cgroup namespace, or none.
std::optional<std::string> UnifiedPath(const std::string& proc_cgroup_file) {
  std::ifstream in(proc_cgroup_file);
  std::string line;
  while (std::getline(in, line)) {
    if (!absl::StartsWith(line, "0::")) {
      continue;
    }
    std::string path = line.substr(3);
    if (path.empty() || path == "/" || absl::StartsWith(path, "/..")) {
      return std::nullopt;
    }
    return std::string(absl::StripPrefix(path, "/"));
  }
  return std::nullopt;
}

}  // namespace

const char* ProbeOriginModeName(ProbeOriginMode mode) {
  switch (mode) {
    case ProbeOriginMode::kAuto:
      return "auto";
    case ProbeOriginMode::kAnyLocal:
      return "any-local";
    case ProbeOriginMode::kCgroup:
      return "cgroup";
  }
  return "?";
}

absl::StatusOr<std::string> DetectKubeletCgroup(const std::string& proc_root,
                                                const std::string& cgroup_root) {
  if (DIR* d = opendir(proc_root.c_str()); d != nullptr) {
    std::optional<std::string> found;
    while (dirent* e = readdir(d)) {
      int pid = 0;
      if (!absl::SimpleAtoi(e->d_name, &pid)) {
        continue;
      }
      const std::string base = absl::StrCat(proc_root, "/", e->d_name);
      const std::string comm = ReadFirstLine(base + "/comm");
      for (const char* name : kKubeletProcesses) {
        if (comm == name) {
          found = UnifiedPath(base + "/cgroup");
          break;
        }
      }
      if (found.has_value()) {
        break;
      }
    }
    closedir(d);
    if (found.has_value()) {
      return *found;
    }
  }
  for (const char* unit : kKubeletUnits) {
    struct stat st {};
    if (stat(absl::StrCat(cgroup_root, "/", unit).c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
      return std::string(unit);
    }
  }
  return absl::NotFoundError(
      "no kubelet process (kubelet, kubelite, k3s-server, k3s-agent) in a cgroup of its own and "
      "no kubelet systemd unit cgroup");
}

void ProbeOriginTracker::Say(std::string description, bool warning) {
  std::lock_guard<std::mutex> lock(mu_);
  description_ = std::move(description);
  warning_ = warning;
}

std::string ProbeOriginTracker::Describe() const {
  std::lock_guard<std::mutex> lock(mu_);
  return description_;
}

bool ProbeOriginTracker::warning() const {
  std::lock_guard<std::mutex> lock(mu_);
  return warning_;
}

absl::StatusOr<netfilter::KubeletCgroup> ProbeOriginTracker::Find() {
  if (options_.cgroup_root.empty()) {
    absl::StatusOr<std::string> root = netfilter::FindCgroup2Root("/proc/self/mountinfo");
    if (!root.ok()) {
      return root.status();
    }
    options_.cgroup_root = *root;
  }
  std::string path = options_.kubelet_cgroup;
  if (path.empty()) {
    absl::StatusOr<std::string> detected =
        DetectKubeletCgroup(options_.proc_root, options_.cgroup_root);
    if (!detected.ok()) {
      return detected.status();
    }
    path = *detected;
  }
  return netfilter::ResolveCgroup(options_.cgroup_root, path);
}

namespace {

std::string CgroupText(const netfilter::KubeletCgroup& c) {
  return absl::StrCat("\"", c.path, "\" (level ", c.level, ", id ", c.id, ")");
}

}  // namespace

netfilter::HostRules ProbeOriginTracker::Start(const netfilter::HostRules& base) {
  netfilter::HostRules rules = base;
  rules.origin = netfilter::ProbeOrigin::kAnyLocal;
  rules.kubelet_cgroup = {};
  if (options_.mode == ProbeOriginMode::kAnyLocal) {
    origin_ = netfilter::ProbeOrigin::kAnyLocal;
    Say("probe origin any-local (configured): every process in the node's network namespace gets "
        "the probe address",
        false);
    spdlog::info("{}", Describe());
    return rules;
  }
  absl::StatusOr<netfilter::KubeletCgroup> found = Find();
  if (!found.ok() && options_.mode == ProbeOriginMode::kAuto) {
    origin_ = netfilter::ProbeOrigin::kAnyLocal;
    Say(absl::StrCat("probe origin any-local: no kubelet cgroup found (", found.status().message(),
                     "); every process in the node's network namespace gets the probe address, "
                     "hostNetwork pods included; set --kubelet-cgroup"),
        true);
    spdlog::warn("{}", Describe());
    return rules;
  }
  origin_ = netfilter::ProbeOrigin::kCgroup;
  rules.origin = netfilter::ProbeOrigin::kCgroup;
  if (found.ok()) {
    rules.kubelet_cgroup = *found;
    Say(absl::StrCat("probe origin cgroup: only sockets of kubelet cgroup ", CgroupText(*found),
                     " get the probe address"),
        false);
    spdlog::info("{}", Describe());
  } else {
    rules.kubelet_cgroup.path = options_.kubelet_cgroup;
    Say(absl::StrCat("probe origin cgroup: kubelet cgroup not found (", found.status().message(),
                     "); no process gets the probe address until it is (checked every drift "
                     "check)"),
        true);
    spdlog::error("{}", Describe());
  }
  return rules;
}

std::optional<netfilter::HostRules> ProbeOriginTracker::Recheck(
    const netfilter::HostRules& current) {
  if (origin_ != netfilter::ProbeOrigin::kCgroup) {
    return std::nullopt;
  }
  absl::StatusOr<netfilter::KubeletCgroup> found = Find();
  netfilter::HostRules next = current;
  if (found.ok()) {
    next.kubelet_cgroup = *found;
  } else {
    // Gone: match nothing rather than everyone (never any-local), until it is back.
    next.kubelet_cgroup.id = 0;
  }
  if (next == current) {
    return std::nullopt;
  }
  if (found.ok()) {
    Say(absl::StrCat("probe origin cgroup: only sockets of kubelet cgroup ", CgroupText(*found),
                     " get the probe address"),
        false);
    spdlog::warn("kubelet cgroup changed from {} to {}; host rules re-programmed",
                 CgroupText(current.kubelet_cgroup), CgroupText(*found));
  } else {
    Say(absl::StrCat("probe origin cgroup: kubelet cgroup ", CgroupText(current.kubelet_cgroup),
                     " is gone (", found.status().message(),
                     "); no process gets the probe address until it is back"),
        true);
    spdlog::error("{}", Describe());
  }
  return next;
}

}  // namespace probesnat::daemon
