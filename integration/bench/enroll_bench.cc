// enroll_bench: how long enrolling a pod takes with probesnatd (one gRPC call; the agent programs
// the pod's namespace and the node's set over netlink) compared with the per-pod exec approach it
// replaces (an agent entering the pod's namespace and running `nft -f FILE`, or `iptables-restore`
// and `ip6tables-restore` with Istio-ambient-style in-pod nat/mangle rules).
//
//   enroll_bench [--pods 1,100,500] [--probesnatd PATH | --baseline-only] [--daemon-arg ARG ...]
//
// For each N: creates N pod namespaces and a node namespace (all removed again), starts probesnatd
// in the node namespace, enrolls the N pods one after another over its unix socket, then applies
// the exec baselines in the same N namespaces. Prints latency percentiles, totals, the agent's
// VmRSS and the speed-up. Needs root. A program, not a test: the figures depend on the machine.
#include <fcntl.h>
#include <sched.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "integration/harness/daemon.h"
#include "integration/harness/enroll_client.h"
#include "integration/harness/latency_stats.h"
#include "netfilter/netns.h"
#include "netfilter/testing/scoped_netns.h"

namespace pi = probesnat::integration;
using probesnat::netfilter::testing::ScopedNetns;

namespace {

constexpr char kProbeV4[] = "169.254.7.127";
constexpr char kProbeV6[] = "fd16:9254:7127:1337:ffff:ffff:ffff:ffff";

// The in-pod behaviour of DESIGN.md as one nft file (inet: both families), replacing any earlier
// copy.
std::string NftInPodRuleset() {
  return absl::StrCat(
      "table inet bench_inpod\n"
      "delete table inet bench_inpod\n"
      "table inet bench_inpod {\n"
      "  chain mangle_prerouting {\n"
      "    type filter hook prerouting priority mangle; policy accept;\n"
      "    meta mark and 0xfff == 0x539 ct mark set ct mark and 0xfffff000 or 0x111\n"
      "  }\n"
      "  chain mangle_output {\n"
      "    type route hook output priority mangle; policy accept;\n"
      "    ct mark and 0xfff == 0x111 meta mark set ct mark\n"
      "  }\n"
      "  chain nat_prerouting {\n"
      "    type nat hook prerouting priority dstnat; policy accept;\n"
      "    ip saddr ",
      kProbeV4,
      " meta l4proto tcp accept\n"
      "    ip6 saddr ",
      kProbeV6,
      " meta l4proto tcp accept\n"
      "    tcp dport 15008 meta mark and 0xfff != 0x539 redirect to :15008\n"
      "    ip daddr != 127.0.0.1 meta l4proto tcp meta mark and 0xfff != 0x539 redirect to :15006\n"
      "    ip6 daddr != ::1 meta l4proto tcp meta mark and 0xfff != 0x539 redirect to :15006\n"
      "  }\n"
      "  chain nat_output {\n"
      "    type nat hook output priority -100; policy accept;\n"
      "    ip daddr ",
      kProbeV4,
      " meta l4proto tcp accept\n"
      "    ip6 daddr ",
      kProbeV6,
      " meta l4proto tcp accept\n"
      "    meta l4proto tcp ct mark and 0xfff == 0x111 accept\n"
      "    oifname \"lo\" ip daddr != 127.0.0.1 accept\n"
      "    oifname \"lo\" ip6 daddr != ::1 accept\n"
      "    ip daddr != 127.0.0.1 meta l4proto tcp meta mark and 0xfff != 0x539 redirect to :15001\n"
      "    ip6 daddr != ::1 meta l4proto tcp meta mark and 0xfff != 0x539 redirect to :15001\n"
      "  }\n"
      "}\n");
}

// The same behaviour as iptables-restore input, in the shape Istio's ambient node agent programs
// inside each pod (custom chains jumped to from PREROUTING/OUTPUT in mangle and nat).
std::string IptablesInPodRuleset(const std::string& probe, const std::string& loopback) {
  return absl::StrCat(
      "*mangle\n"
      ":PREROUTING ACCEPT [0:0]\n"
      ":OUTPUT ACCEPT [0:0]\n"
      ":PSNT_PRERT - [0:0]\n"
      ":PSNT_OUTPUT - [0:0]\n"
      "-A PREROUTING -j PSNT_PRERT\n"
      "-A OUTPUT -j PSNT_OUTPUT\n"
      "-A PSNT_PRERT -m mark --mark 0x539/0xfff -j CONNMARK --set-xmark 0x111/0xfff\n"
      "-A PSNT_OUTPUT -m connmark --mark 0x111/0xfff -j CONNMARK --restore-mark --nfmask "
      "0xffffffff "
      "--ctmask 0xffffffff\n"
      "COMMIT\n"
      "*nat\n"
      ":PREROUTING ACCEPT [0:0]\n"
      ":OUTPUT ACCEPT [0:0]\n"
      ":PSNT_PRERT - [0:0]\n"
      ":PSNT_OUTPUT - [0:0]\n"
      "-A PREROUTING -j PSNT_PRERT\n"
      "-A OUTPUT -j PSNT_OUTPUT\n"
      "-A PSNT_PRERT -s ",
      probe,
      " -p tcp -m tcp -j ACCEPT\n"
      "-A PSNT_PRERT ! -d ",
      loopback,
      " -p tcp -m tcp --dport 15008 -m mark ! --mark 0x539/0xfff "
      "-j REDIRECT --to-ports 15008\n"
      "-A PSNT_PRERT ! -d ",
      loopback,
      " -p tcp -m mark ! --mark 0x539/0xfff -j REDIRECT --to-ports 15006\n"
      "-A PSNT_OUTPUT -d ",
      probe,
      " -p tcp -m tcp -j ACCEPT\n"
      "-A PSNT_OUTPUT -p tcp -m mark --mark 0x111/0xfff -j ACCEPT\n"
      "-A PSNT_OUTPUT ! -d ",
      loopback,
      " -o lo -j ACCEPT\n"
      "-A PSNT_OUTPUT ! -d ",
      loopback,
      " -p tcp -m mark ! --mark 0x539/0xfff -j REDIRECT --to-ports 15001\n"
      "COMMIT\n");
}

// fork; the child enters the namespace and execs argv (stdin from `input` if given); the parent
// waits. Returns the wall time in ms, or nullopt if the command failed.
std::optional<double> ExecInNetns(int netns_fd, const std::vector<std::string>& args,
                                  const std::string& input) {
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  std::vector<std::string> copy = args;
  for (std::string& a : copy) {
    argv.push_back(a.data());
  }
  argv.push_back(nullptr);
  const absl::Time start = absl::Now();
  pid_t pid = ::fork();
  if (pid < 0) {
    return std::nullopt;
  }
  if (pid == 0) {
    if (::setns(netns_fd, CLONE_NEWNET) != 0) {
      ::_exit(126);
    }
    if (!input.empty()) {
      int fd = ::open(input.c_str(), O_RDONLY);
      if (fd < 0 || ::dup2(fd, STDIN_FILENO) < 0) {
        ::_exit(126);
      }
    }
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  const double ms = absl::ToDoubleMilliseconds(absl::Now() - start);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "enroll_bench: %s exited with status %d\n", args[0].c_str(), status);
    return std::nullopt;
  }
  return ms;
}

std::string Which(const std::string& tool) {
  for (const char* dir : {"/usr/sbin", "/sbin", "/usr/bin", "/bin"}) {
    std::string p = absl::StrCat(dir, "/", tool);
    if (::access(p.c_str(), X_OK) == 0) {
      return p;
    }
  }
  return tool;
}

std::string WriteTemp(const std::string& dir, const std::string& name, const std::string& text) {
  std::string path = absl::StrCat(dir, "/", name);
  std::ofstream(path) << text;
  return path;
}

void PrintRow(const char* what, const pi::LatencyStats& s) {
  std::printf("  %-46s p50 %8.3f ms  p99 %8.3f ms  max %8.3f ms  total %9.1f ms\n", what, s.p50,
              s.p99, s.max, s.total);
}

int RunOne(int n, const std::string& probesnatd, const std::vector<std::string>& daemon_args,
           const std::string& tmpdir) {
  std::printf("\n== N = %d pods ==\n", n);
  const absl::Time setup_start = absl::Now();
  absl::StatusOr<ScopedNetns> node = ScopedNetns::Create("bnode");
  if (!node.ok()) {
    std::fprintf(stderr, "enroll_bench: %s\n", node.status().ToString().c_str());
    return 1;
  }
  std::vector<ScopedNetns> pods;
  std::vector<probesnat::UniqueFd> fds;
  std::vector<probesnat::v1::Pod> specs;
  for (int i = 0; i < n; ++i) {
    absl::StatusOr<ScopedNetns> ns = ScopedNetns::Create(absl::StrCat("bp", i));
    if (!ns.ok()) {
      std::fprintf(stderr, "enroll_bench: %s\n", ns.status().ToString().c_str());
      return 1;
    }
    absl::StatusOr<probesnat::UniqueFd> fd = probesnat::netfilter::OpenNetns(ns->path());
    if (!fd.ok()) {
      std::fprintf(stderr, "enroll_bench: %s\n", fd.status().ToString().c_str());
      return 1;
    }
    const std::string v4 = absl::StrCat("10.248.", i / 250, ".", i % 250 + 1);
    const std::string v6 = absl::StrCat("fd00:248::", absl::Hex(i + 1));
    (void)probesnat::netfilter::testing::Run(
        absl::StrCat("ip -n ", ns->name(), " addr add ", v4, "/32 dev lo"));
    specs.push_back(pi::MakePod(absl::StrCat("bench-", i, "-0000-4000-8000-000000000000"), {v4, v6},
                                ns->path(), absl::StrCat("bench-", i)));
    fds.push_back(std::move(*fd));
    pods.push_back(std::move(*ns));
  }
  std::printf("  setup: %d namespaces in %.1f s\n", n + 1,
              absl::ToDoubleSeconds(absl::Now() - setup_start));

  std::unique_ptr<pi::Daemon> daemon;
  std::unique_ptr<probesnat::v1::Enrollment::Stub> stub;
  absl::StatusOr<long> rss_start = absl::UnavailableError("no agent");
  if (!probesnatd.empty()) {
    pi::Daemon::Options o;
    o.binary = probesnatd;
    o.node_netns = node->name();
    o.args = {"--allowed-netns-root", "/run/netns"};
    o.args.insert(o.args.end(), daemon_args.begin(), daemon_args.end());
    absl::StatusOr<std::unique_ptr<pi::Daemon>> started = pi::Daemon::Start(o);
    if (!started.ok()) {
      std::fprintf(stderr, "enroll_bench: %s\n", started.status().ToString().c_str());
      return 1;
    }
    daemon = std::move(*started);
    stub = daemon->Enrollment();
    rss_start = daemon->RssKib();
    // The channel is already connected (the health check); one List warms the Enrollment service.
    probesnat::v1::ListResponse list;
    (void)pi::List(*stub, &list);
  }

  std::vector<double> enroll_ms;
  const absl::Time enroll_start = absl::Now();
  for (const probesnat::v1::Pod& pod : specs) {
    if (stub == nullptr) {
      break;
    }
    const absl::Time t0 = absl::Now();
    grpc::Status st = pi::Enroll(*stub, pod);
    enroll_ms.push_back(absl::ToDoubleMilliseconds(absl::Now() - t0));
    if (!st.ok()) {
      std::fprintf(stderr, "enroll_bench: Enroll %s: %s\n", pod.uid().c_str(),
                   pi::Describe(st).c_str());
      return 1;
    }
  }
  const double enroll_total = absl::ToDoubleMilliseconds(absl::Now() - enroll_start);
  absl::StatusOr<long> rss = daemon ? daemon->RssKib() : rss_start;

  // Exec baselines, in the same namespaces (their tables are separate from probesnat's).
  const std::string nft_file = WriteTemp(tmpdir, "inpod.nft", NftInPodRuleset());
  const std::string ipt4 =
      WriteTemp(tmpdir, "inpod.iptables", IptablesInPodRuleset(kProbeV4, "127.0.0.1/32"));
  const std::string ipt6 =
      WriteTemp(tmpdir, "inpod.ip6tables", IptablesInPodRuleset(kProbeV6, "::1/128"));
  const std::string nft = Which("nft"), ipr = Which("iptables-restore"),
                    ip6r = Which("ip6tables-restore");
  std::vector<double> nft_ms, ipt_ms;
  for (const auto& fd : fds) {
    std::optional<double> a = ExecInNetns(fd.get(), {nft, "-f", nft_file}, "");
    std::optional<double> b4 = ExecInNetns(fd.get(), {ipr}, ipt4);
    std::optional<double> b6 = ExecInNetns(fd.get(), {ip6r}, ipt6);
    if (!a || !b4 || !b6) {
      return 1;
    }
    nft_ms.push_back(*a);
    ipt_ms.push_back(*b4 + *b6);
  }

  std::vector<double> unenroll_ms;
  for (const probesnat::v1::Pod& pod : specs) {
    if (stub == nullptr) {
      break;
    }
    const absl::Time t0 = absl::Now();
    grpc::Status st = pi::Unenroll(*stub, pod.uid());
    unenroll_ms.push_back(absl::ToDoubleMilliseconds(absl::Now() - t0));
    if (!st.ok()) {
      std::fprintf(stderr, "enroll_bench: Unenroll %s: %s\n", pod.uid().c_str(),
                   pi::Describe(st).c_str());
      return 1;
    }
  }

  const std::vector<double> server_ms =
      daemon ? pi::LoggedLatenciesMs(daemon->Log(), " enroll uid=") : std::vector<double>{};
  const pi::LatencyStats e = pi::Summarize(enroll_ms), u = pi::Summarize(unenroll_ms), nf = pi::Summarize(nft_ms),
              it = pi::Summarize(ipt_ms);
  if (stub != nullptr) {
    PrintRow("probesnatd Enroll (gRPC round trip)", e);
    if (!server_ms.empty()) {
      PrintRow("  of which inside probesnatd (its log latency=)", pi::Summarize(server_ms));
    }
    std::printf("  %-46s %.3f ms\n", "  first Enroll after start", enroll_ms.front());
    if (n >= 200) {
      // Does the cost grow with the number of pods already enrolled?
      const size_t k = 100;
      const pi::LatencyStats first = pi::Summarize(std::vector<double>(enroll_ms.begin(), enroll_ms.begin() + k));
      const pi::LatencyStats last = pi::Summarize(std::vector<double>(enroll_ms.end() - k, enroll_ms.end()));
      std::printf("  %-46s first 100: p50 %.3f p99 %.3f ms; last 100: p50 %.3f p99 %.3f ms\n",
                  "  growth with enrolled pods", first.p50, first.p99, last.p50, last.p99);
    }
    std::printf("  %-46s %.1f ms for %d pods (%.0f pods/s)\n", "probesnatd Enroll total",
                enroll_total, n, enroll_total > 0 ? n * 1000.0 / enroll_total : 0.0);
    PrintRow("probesnatd Unenroll (gRPC round trip)", u);
  }
  PrintRow("exec nft -f (fork+setns+exec, per pod)", nf);
  PrintRow("exec iptables-restore + ip6tables-restore", it);
  if (stub != nullptr) {
    std::printf("  %-46s %ld KiB at start, %ld KiB after %d enrollments\n", "probesnatd VmRSS",
                rss_start.value_or(-1), rss.value_or(-1), n);
    std::printf(
        "  %-46s nft -f: %.1fx (p50) %.1fx (p99);  iptables-restore: %.1fx (p50) %.1fx (p99)\n",
        "speed-up of Enroll over exec", nf.p50 / e.p50, nf.p99 / e.p99, it.p50 / e.p50,
        it.p99 / e.p99);
    std::printf("  %-46s p99 < 1 ms: %s;  >= 20x faster than both baselines (p50 and p99): %s\n",
                "targets", e.p99 < 1.0 ? "met" : "NOT met",
                (nf.p50 / e.p50 >= 20 && it.p50 / e.p50 >= 20 && nf.p99 / e.p99 >= 20 &&
                 it.p99 / e.p99 >= 20)
                    ? "met"
                    : "NOT met");
  }
  std::fflush(stdout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> sizes = {1, 100, 500};
  std::string probesnatd = pi::ProbesnatdPath();
  std::vector<std::string> daemon_args;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--pods" && i + 1 < argc) {
      sizes.clear();
      for (absl::string_view part : absl::StrSplit(argv[++i], ',')) {
        int n = 0;
        if (!absl::SimpleAtoi(part, &n) || n < 1 || n > 60000) {
          std::fprintf(stderr, "enroll_bench: bad --pods value\n");
          return 2;
        }
        sizes.push_back(n);
      }
    } else if (arg == "--probesnatd" && i + 1 < argc) {
      probesnatd = argv[++i];
    } else if (arg == "--daemon-arg" && i + 1 < argc) {
      daemon_args.push_back(argv[++i]);
    } else if (arg == "--baseline-only") {
      probesnatd.clear();
    } else {
      std::fprintf(stderr,
                   "usage: enroll_bench [--pods 1,100,500] [--probesnatd PATH | --baseline-only] "
                   "[--daemon-arg ARG ...]\n");
      return 2;
    }
  }
  if (::geteuid() != 0) {
    std::fprintf(stderr, "enroll_bench: needs root (creates network namespaces)\n");
    return 2;
  }
  ScopedNetns::RemoveStale();
  char tmpl[] = "/tmp/psnt-bench-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) {
    return 1;
  }
  const std::string tmpdir = tmpl;
  utsname u{};
  ::uname(&u);
  std::printf("enroll_bench: kernel %s, %ld CPUs, probesnatd %s\n", u.release,
              ::sysconf(_SC_NPROCESSORS_ONLN), probesnatd.c_str());
  int rc = 0;
  for (int n : sizes) {
    rc |= RunOne(n, probesnatd, daemon_args, tmpdir);
  }
  (void)probesnat::netfilter::testing::Run(absl::StrCat("rm -rf ", tmpdir));
  return rc;
}
