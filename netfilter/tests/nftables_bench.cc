// Prints how long the nftables backend's operations take against the kernel, in fresh namespaces.
// Not a test: figures only. Run as root: netfilter_nftables_bench [iterations]
#include <linux/netlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <vector>

#include "absl/status/status.h"
#include "netfilter/netns.h"
#include "netfilter/nftables_backend.h"
#include "netfilter/testing/scoped_netns.h"

namespace probesnat::netfilter {
namespace {

void Report(const char* what, std::vector<double> us) {
  std::sort(us.begin(), us.end());
  auto at = [&](double q) { return us[static_cast<size_t>(q * (us.size() - 1))]; };
  std::printf("%-34s n=%-5zu p50=%7.1fus p90=%7.1fus p99=%7.1fus max=%7.1fus\n", what, us.size(),
              at(0.5), at(0.9), at(0.99), us.back());
}

bool Measure(const char* what, int n, const std::function<absl::Status(int)>& fn) {
  std::vector<double> us;
  for (int i = 0; i < n; ++i) {
    auto start = std::chrono::steady_clock::now();
    absl::Status st = fn(i);
    auto end = std::chrono::steady_clock::now();
    if (!st.ok()) {
      std::fprintf(stderr, "%s: %s\n", what, std::string(st.message()).c_str());
      return false;
    }
    us.push_back(std::chrono::duration<double, std::micro>(end - start).count());
  }
  Report(what, std::move(us));
  return true;
}

int Main(int argc, char** argv) {
  if (::geteuid() != 0) {
    std::fprintf(stderr, "needs root (creates network namespaces)\n");
    return 1;
  }
  int n = argc > 1 ? std::atoi(argv[1]) : 500;
  testing::ScopedNetns::RemoveStale();
  auto host = testing::ScopedNetns::Create("bh");
  auto pod = testing::ScopedNetns::Create("bp");
  if (!host.ok() || !pod.ok()) {
    std::fprintf(stderr, "cannot create namespaces\n");
    return 1;
  }
  auto backend = MakeNftablesBackend(host->path());
  if (!backend.ok()) {
    std::fprintf(stderr, "%s\n", std::string(backend.status().message()).c_str());
    return 1;
  }
  Backend& b = **backend;
  PodRules rules;
  const TableOwner owner{"0d8f1c2e-5b7a-4e39-9a51-7c3f0e2b6d14", 1};
  bool ok = Measure("netns socket, helper thread", n, [&](int) -> absl::Status {
    auto fd = OpenNetns(pod->path());
    if (!fd.ok()) return fd.status();
    return SocketInNetns(fd->get(), AF_NETLINK, SOCK_RAW, NETLINK_NETFILTER).status();
  });
  ok = ok && Measure("netns socket, calling thread", n, [&](int) -> absl::Status {
         auto fd = OpenNetns(pod->path());
         if (!fd.ok()) return fd.status();
         return SocketInNetnsOnCallingThread(fd->get(), AF_NETLINK, SOCK_RAW, NETLINK_NETFILTER)
             .status();
       });
  // Enrolment: each ApplyPod targets another pod's namespace.
  std::vector<testing::ScopedNetns> pods;
  for (int i = 0; i < 64; ++i) {
    auto p = testing::ScopedNetns::Create("bp");
    if (!p.ok()) {
      std::fprintf(stderr, "cannot create namespaces\n");
      return 1;
    }
    pods.push_back(*std::move(p));
  }
  // Enrolment of a pod never seen before: no pooled socket, no table yet.
  std::vector<testing::ScopedNetns> fresh;
  for (int i = 0; i < 100; ++i) {
    auto p = testing::ScopedNetns::Create("bf");
    if (!p.ok()) {
      std::fprintf(stderr, "cannot create namespaces\n");
      return 1;
    }
    fresh.push_back(*std::move(p));
  }
  ok = ok && Measure("ApplyPod, first time, fresh netns", static_cast<int>(fresh.size()),
                     [&](int i) { return b.ApplyPod(fresh[i].path(), rules, owner); });
  fresh.clear();
  ok = ok && Measure("ApplyPod, 64 pods round-robin", n,
                     [&](int i) { return b.ApplyPod(pods[i % pods.size()].path(), rules, owner); });
  ok = ok && Measure("ObservePod, 64 pods round-robin", n, [&](int i) {
         return b.ObservePod(pods[i % pods.size()].path(), rules).status();
       });
  ok = ok && Measure("RemovePod, 64 pods round-robin", n,
                     [&](int i) { return b.RemovePod(pods[i % pods.size()].path()); });
  // The same namespace back to back: the kernel's deferred release of the previous transaction
  // (flushed when its socket is closed) holds that namespace's nf_tables mutex for a grace period.
  ok = ok && Measure("ApplyPod, same pod back to back", 50,
                     [&](int) { return b.ApplyPod(pod->path(), rules, owner); });
  ok = ok && Measure("EnsureHost (unchanged)", n, [&](int) { return b.EnsureHost(HostRules{}); });
  ok = ok && Measure("UpdateHostMembers add v4+v6", n, [&](int i) {
         auto v4 = IpAddress::V4({10, 1, static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i)});
         auto v6 = IpAddress::V6({0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                  static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i)});
         return b.UpdateHostMembers({{v4, "bench-pod"}, {v6, "bench-pod"}}, {});
       });
  // The same addresses, now owned by another pod (IP reuse): the owner comment is replaced.
  ok = ok && Measure("UpdateHostMembers, owner replaced", n, [&](int i) {
         auto v4 = IpAddress::V4({10, 1, static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i)});
         auto v6 = IpAddress::V6({0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                  static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i)});
         return b.UpdateHostMembers({{v4, "bench-pod-2"}, {v6, "bench-pod-2"}}, {});
       });
  // Replacing the host table re-adds every member with its owner (one transaction).
  ok = ok && Measure("EnsureHost (replace, n members)", 50, [&](int i) {
         HostRules other;
         other.probe_v4 = IpAddress::V4({169, 254, 99, static_cast<uint8_t>(1 + i % 2)});
         return b.EnsureHost(i % 2 == 0 ? other : HostRules{});
       });
  ok = ok && Measure("ObserveHost (n members)", 50,
                     [&](int) { return b.ObserveHost(HostRules{}).status(); });
  return ok ? 0 : 1;
}

}  // namespace
}  // namespace probesnat::netfilter

int main(int argc, char** argv) { return probesnat::netfilter::Main(argc, argv); }
