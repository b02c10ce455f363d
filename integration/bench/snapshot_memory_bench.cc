// snapshot_memory_bench: what the policy snapshot costs probesnatd in memory, to size the
// DaemonSet's memory request and limit (deploy/daemonset.yaml, README "Sizing"). For each cluster
// size a fresh agent is started, a generated cluster (pods in namespaces of 20, one policy per two
// pods) is sent with Policy.ReplaceSnapshot over the real socket, and the agent's VmRSS (idle,
// after the load) and VmHWM (peak) are printed, with the cost per cluster pod.
//
//   snapshot_memory_bench [--pods 1000,2500,5000] [--probesnatd PATH]
//
// Needs root; the node namespace is created under the psnt- prefix and removed again. A program,
// not a test: the figures depend on the machine.
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "agent/policy/testing/cluster_gen.h"
#include "agent/policy/testing/cluster_manifests.h"
#include "grpcpp/client_context.h"
#include "integration/harness/daemon.h"
#include "netfilter/testing/scoped_netns.h"
#include "probesnat/v1/probesnat.grpc.pb.h"

namespace pi = probesnat::integration;
namespace pt = probesnat::policy::testing;
using probesnat::netfilter::testing::ScopedNetns;

namespace {

struct Args {
  std::vector<int> pods = {1000, 2500, 5000};
  std::string probesnatd = pi::ProbesnatdPath();
};

// A field of /proc/<pid>/status in KiB (VmRSS, VmHWM), or -1.
long StatusKib(pid_t pid, const std::string& field) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(field + ":", 0) == 0) {
      long kib = -1;
      std::vector<std::string> words = absl::StrSplit(line, ' ', absl::SkipWhitespace());
      if (words.size() >= 2 && absl::SimpleAtoi(words[1], &kib)) {
        return kib;
      }
    }
  }
  return -1;
}

struct Row {
  int pods = 0;
  size_t manifest_bytes = 0;
  long idle_kib = -1, loaded_kib = -1, peak_kib = -1;
  double load_ms = 0;
};

absl::StatusOr<Row> Measure(const Args& args, const ScopedNetns& node, int pods) {
  pt::GenOptions g;
  g.pods = pods;
  g.namespaces = std::max(1, pods / 20);
  g.policies = std::max(1, pods / 2);
  const std::string manifests = pt::ClusterManifests(pt::GenerateCluster(g, 20261203));

  pi::Daemon::Options o;
  o.binary = args.probesnatd;
  o.node_netns = node.name();
  absl::StatusOr<std::unique_ptr<pi::Daemon>> daemon = pi::Daemon::Start(o);
  if (!daemon.ok()) {
    return daemon.status();
  }
  Row row;
  row.pods = pods;
  row.manifest_bytes = manifests.size();
  row.idle_kib = StatusKib((*daemon)->pid(), "VmRSS");

  auto stub = probesnat::v1::Policy::NewStub((*daemon)->channel());
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(120)));
  probesnat::v1::ReplacePolicySnapshotRequest req;
  req.add_manifests(manifests);
  probesnat::v1::ReplacePolicySnapshotResponse resp;
  const absl::Time start = absl::Now();
  grpc::Status st = stub->ReplaceSnapshot(&ctx, req, &resp);
  row.load_ms = absl::ToDoubleMilliseconds(absl::Now() - start);
  if (!st.ok()) {
    return absl::InternalError(absl::StrCat("ReplaceSnapshot of ", pods, " pods: ",
                                            st.error_message()));
  }
  if (static_cast<int>(resp.pods()) != pods) {
    return absl::InternalError(absl::StrCat("the agent loaded ", resp.pods(), " of ", pods,
                                            " pods (", resp.problems_size(), " problems)"));
  }
  row.loaded_kib = StatusKib((*daemon)->pid(), "VmRSS");
  row.peak_kib = StatusKib((*daemon)->pid(), "VmHWM");
  return row;
}

int Run(const Args& args) {
  absl::StatusOr<ScopedNetns> node = ScopedNetns::Create("smnode");
  if (!node.ok()) {
    std::fprintf(stderr, "snapshot_memory_bench: %s\n", node.status().ToString().c_str());
    return 1;
  }
  std::printf("probesnatd memory with a policy snapshot of N cluster pods (Policy.ReplaceSnapshot)\n");
  std::printf("  %8s %10s %10s %10s %10s %10s %12s\n", "pods", "manifests", "idle", "loaded",
              "peak", "load", "per pod");
  for (int pods : args.pods) {
    absl::StatusOr<Row> row = Measure(args, *node, pods);
    if (!row.ok()) {
      std::fprintf(stderr, "snapshot_memory_bench: %s\n", row.status().ToString().c_str());
      return 1;
    }
    std::printf("  %8d %8.1f MB %7.1f MiB %7.1f MiB %7.1f MiB %7.0f ms %9.1f KiB\n", row->pods,
                row->manifest_bytes / 1e6, row->idle_kib / 1024.0, row->loaded_kib / 1024.0,
                row->peak_kib / 1024.0, row->load_ms,
                static_cast<double>(row->peak_kib - row->idle_kib) / row->pods);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--pods" && i + 1 < argc) {
      args.pods.clear();
      for (absl::string_view n : absl::StrSplit(argv[++i], ',')) {
        int pods = 0;
        if (!absl::SimpleAtoi(n, &pods) || pods <= 0) {
          std::fprintf(stderr, "snapshot_memory_bench: --pods takes counts like 1000,2500\n");
          return 2;
        }
        args.pods.push_back(pods);
      }
    } else if (a == "--probesnatd" && i + 1 < argc) {
      args.probesnatd = argv[++i];
    } else {
      std::fprintf(stderr, "usage: snapshot_memory_bench [--pods 1000,2500,5000] [--probesnatd PATH]\n");
      return 2;
    }
  }
  return Run(args);
}
