// What the cgroup probe origin costs a node -> enrolled pod connection: connections per second
// (connect, accepted in the pod, RST) with the host table in any-local and in cgroup mode,
// alternating rounds in one run, from a process in the "kubelet" test cgroup (so every connection
// is SNATed and, in cgroup mode, also goes through the output chain's socket cgroupv2 match and
// the ct mark). Not a test: figures only. Run as root: netfilter_cgroup_origin_bench [conns] [rounds]
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "netfilter/cgroup_v2.h"
#include "netfilter/netns.h"
#include "netfilter/nftables_backend.h"
#include "netfilter/testing/scoped_cgroup.h"
#include "netfilter/testing/scoped_netns.h"

namespace probesnat::netfilter {
namespace {

int Fail(const std::string& what) {
  std::fprintf(stderr, "%s\n", what.c_str());
  return 1;
}

std::string OwnCgroup() {
  std::ifstream in("/proc/self/cgroup");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("0::", 0) == 0) return line.substr(3);
  }
  return "/";
}

// One round: `n` connections from the node to 10.210.1.2:8080; returns connections per second.
double Round(int n) {
  sockaddr_in dst{};
  dst.sin_family = AF_INET;
  dst.sin_port = htons(8080);
  dst.sin_addr.s_addr = htonl(0x0ad20102);
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) {
    UniqueFd fd(::socket(AF_INET, SOCK_STREAM, 0));
    if (fd.get() < 0 || ::connect(fd.get(), reinterpret_cast<sockaddr*>(&dst), sizeof(dst)) != 0) {
      std::fprintf(stderr, "connection %d: %s\n", i, std::strerror(errno));
      return -1;
    }
    linger l{1, 0};  // RST on close: no TIME_WAIT, the ports stay free
    ::setsockopt(fd.get(), SOL_SOCKET, SO_LINGER, &l, sizeof(l));
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return n / s;
}

int Main(int argc, char** argv) {
  if (::geteuid() != 0) return Fail("needs root (namespaces, cgroups)");
  const int n = argc > 1 ? std::atoi(argv[1]) : 2000;
  const int rounds = argc > 2 ? std::atoi(argv[2]) : 5;
  testing::ScopedNetns::RemoveStale();
  testing::ScopedCgroup::RemoveStale();
  auto node = testing::ScopedNetns::Create("bn");
  auto pod = testing::ScopedNetns::Create("bp");
  auto kubelet = testing::ScopedCgroup::Create("bench", "kubelet.service");
  if (!node.ok() || !pod.ok() || !kubelet.ok()) return Fail("cannot create namespaces or cgroup");
  for (const std::string& c :
       {absl::StrCat("ip -n ", node->name(), " link add vpod type veth peer name eth0 netns ",
                     pod->name()),
        absl::StrCat("ip -n ", node->name(), " addr add 10.210.1.1/24 dev vpod"),
        absl::StrCat("ip -n ", pod->name(), " addr add 10.210.1.2/24 dev eth0"),
        absl::StrCat("ip -n ", node->name(), " link set vpod up"),
        absl::StrCat("ip -n ", pod->name(), " link set eth0 up"),
        absl::StrCat("ip -n ", pod->name(), " link set lo up"),
        // Replies to the probe address go back through the node.
        absl::StrCat("ip -n ", pod->name(), " route add default via 10.210.1.1")}) {
    if (!testing::Run(c).ok()) return Fail(c);
  }
  auto backend = MakeNftablesBackend(node->path());
  if (!backend.ok()) return Fail(std::string(backend.status().message()));
  HostRules any_local;
  HostRules cgroup;
  cgroup.origin = ProbeOrigin::kCgroup;
  auto resolved = ResolveCgroup(kubelet->root(), kubelet->path());
  if (!resolved.ok()) return Fail(std::string(resolved.status().message()));
  cgroup.kubelet_cgroup = *resolved;
  if (!(*backend)->EnsureHost(any_local).ok() ||
      !(*backend)->UpdateHostMembers({{*IpAddress::Parse("10.210.1.2"), "bench"}}, {}).ok()) {
    return Fail("host table");
  }
  // The pod accepts and closes everything.
  auto pod_fd = OpenNetns(pod->path());
  auto node_fd = OpenNetns(node->path());
  if (!pod_fd.ok() || !node_fd.ok()) return Fail("open namespaces");
  auto listener = SocketInNetnsOnCallingThread(pod_fd->get(), AF_INET, SOCK_STREAM, 0);
  sockaddr_in any{};
  any.sin_family = AF_INET;
  any.sin_port = htons(8080);
  int one = 1;
  ::setsockopt(listener->get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (::bind(listener->get(), reinterpret_cast<sockaddr*>(&any), sizeof(any)) != 0 ||
      ::listen(listener->get(), 4096) != 0) {
    return Fail("listen");
  }
  std::atomic<bool> probe_seen{false};
  std::thread acceptor([&] {
    for (;;) {
      sockaddr_in peer{};
      socklen_t len = sizeof(peer);
      int c = ::accept(listener->get(), reinterpret_cast<sockaddr*>(&peer), &len);
      if (c < 0) return;
      if (peer.sin_addr.s_addr == htonl(0xa9fe077f)) probe_seen = true;
      ::close(c);
    }
  });
  // This thread lives in the node namespace from now on (sockets without a setns each).
  if (::setns(node_fd->get(), CLONE_NEWNET) != 0) return Fail("setns node");
  const std::string home = OwnCgroup();
  if (!kubelet->Enter(::getpid()).ok()) return Fail("enter cgroup");
  // Back home before anything returns: the cgroup's removal kills what is in it.
  auto leave = [&] {
    std::ofstream(absl::StrCat(kubelet->root(), home, "/cgroup.procs")) << ::getpid();
    ::shutdown(listener->get(), SHUT_RDWR);
    acceptor.join();
  };
  double sum[2] = {0, 0};
  for (int r = 0; r < rounds; ++r) {
    for (int k = 0; k < 2; ++k) {
      const int mode = (r % 2 == 0) ? k : 1 - k;  // ABBA: neither mode always runs first
      if (!(*backend)->EnsureHost(mode == 0 ? any_local : cgroup).ok()) {
        leave();
        return Fail("EnsureHost");
      }
      probe_seen = false;
      const double rate = Round(n);
      if (rate < 0) {
        leave();
        return Fail("connect failed");
      }
      std::printf("round %d %-9s %8.0f connections/s%s\n", r + 1, mode == 0 ? "any-local" : "cgroup",
                  rate, probe_seen ? "" : " (NO probe source seen!)");
      sum[mode] += rate;
    }
  }
  std::printf("mean: any-local %.0f/s, cgroup %.0f/s (%+.1f%%), %d connections x %d rounds each\n",
              sum[0] / rounds, sum[1] / rounds, 100.0 * (sum[1] - sum[0]) / sum[0], n, rounds);
  leave();
  return 0;
}

}  // namespace
}  // namespace probesnat::netfilter

int main(int argc, char** argv) { return probesnat::netfilter::Main(argc, argv); }
