// policy_bench: a generated cluster of 1,000 pods in 50 namespaces with 500 NetworkPolicies.
// Prints the time to load it from manifests, to evaluate 100,000 queries, to analyse every pod and
// what one Enroll costs the daemon's gate (SnapshotPolicyGate::Check, every pod enrolled), both
// with the enrolled set pushed per Enroll (AddEnrolled) as agent/daemon/main.cc wires it since
// issue 13 and pulled from the reconciler's List on every Check as it was wired before, and what
// a push costs.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "agent/domain/pod_state.h"
#include "agent/policy/analysis.h"
#include "agent/policy/manifest_loader.h"
#include "agent/policy/pod_convert.h"
#include "agent/policy/policy_yaml.h"
#include "agent/policy/snapshot_policy_gate.h"
#include "agent/policy/testing/cluster_gen.h"
#include "agent/policy/testing/cluster_manifests.h"

namespace {

using namespace probesnat::policy;
using probesnat::IpAddress;
using Clock = std::chrono::steady_clock;

double Ms(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

struct CheckTimes {
  double avg_ms = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  size_t findings = 0;
};

// Average, median and 99th percentile of `ms` (not empty).
CheckTimes Summarize(std::vector<double> ms) {
  CheckTimes t;
  double sum = 0;
  for (double m : ms) {
    sum += m;
  }
  t.avg_ms = sum / static_cast<double>(ms.size());
  std::sort(ms.begin(), ms.end());
  auto rank = [&](size_t percent) {
    return ms[std::min(ms.size() - 1, (ms.size() * percent + 99) / 100 - 1)];
  };
  t.p50_ms = rank(50);
  t.p99_ms = rank(99);
  return t;
}

// `pods` checked one after the other on `gate`; average and 99th percentile of one Check.
CheckTimes TimeChecks(const probesnat::policy::SnapshotPolicyGate& gate,
                      const std::vector<probesnat::agent::PodSpec>& pods) {
  std::vector<double> ms;
  size_t findings = 0;
  for (const probesnat::agent::PodSpec& p : pods) {
    auto a = Clock::now();
    findings += gate.Check(p).value().size();
    ms.push_back(Ms(a, Clock::now()));
  }
  CheckTimes t = Summarize(std::move(ms));
  t.findings = findings;
  return t;
}

// `pods` checked on every gate in turn (pod 1 on each gate, pod 2 on each gate, ...), so that all
// of them see the same load on the machine.
using Checker =
    std::function<std::vector<probesnat::agent::Finding>(const probesnat::agent::PodSpec&)>;

std::vector<CheckTimes> TimeChecksInTurn(const std::vector<Checker>& gates,
                                         const std::vector<probesnat::agent::PodSpec>& pods) {
  std::vector<std::vector<double>> ms(gates.size());
  std::vector<size_t> findings(gates.size());
  for (const probesnat::agent::PodSpec& p : pods) {
    for (size_t g = 0; g < gates.size(); ++g) {
      auto a = Clock::now();
      findings[g] += gates[g](p).size();
      ms[g].push_back(Ms(a, Clock::now()));
    }
  }
  std::vector<CheckTimes> out;
  for (size_t g = 0; g < gates.size(); ++g) {
    out.push_back(Summarize(std::move(ms[g])));
    out.back().findings = findings[g];
  }
  return out;
}

// Stands in for the daemon's reconciler as the gate's enrolled source before issue 13: List
// copied every PodStatus under the reconciler's mutex, and the source agent/daemon/main.cc
// installed copied each status's pod out of that list, for the gate to convert, on every Check.
class ReconcilerListStandIn {
 public:
  explicit ReconcilerListStandIn(const std::vector<probesnat::agent::PodSpec>& pods) {
    for (const probesnat::agent::PodSpec& p : pods) {
      probesnat::agent::PodState s;
      s.spec = p;
      s.phase = probesnat::agent::PodPhase::kApplied;
      s.updated = absl::FromUnixSeconds(1764633600);
      s.generation = 1;
      statuses_.push_back(std::move(s));
    }
  }
  std::vector<probesnat::agent::PodState> List() const {
    std::lock_guard<std::mutex> lock(mu_);
    return statuses_;
  }
  // The function main.cc gave the gate's enrolled source.
  std::function<std::vector<probesnat::agent::PodSpec>()> Source() const {
    return [this] {
      std::vector<probesnat::agent::PodSpec> pods;
      for (const probesnat::agent::PodState& s : List()) {
        pods.push_back(s.spec);
      }
      return pods;
    };
  }

 private:
  mutable std::mutex mu_;
  std::vector<probesnat::agent::PodState> statuses_;
};

void PrintTimes(const char* what, const CheckTimes& t) {
  std::printf("%s: avg %.3f ms, p50 %.3f ms, p99 %.3f ms\n", what, t.avg_ms, t.p50_ms, t.p99_ms);
}

}  // namespace

int main() {
  testing::GenOptions o;
  o.namespaces = 50;
  o.pods = 1000;
  o.policies = 500;
  const Cluster generated = testing::GenerateCluster(o, 20261125);
  const std::string text = testing::ClusterManifests(generated);

  auto t0 = Clock::now();
  ManifestLoader loader;
  if (absl::Status s = loader.AddText(text, "generated"); !s.ok()) {
    std::fprintf(stderr, "load failed: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  Cluster cluster = loader.TakeCluster();
  auto t1 = Clock::now();
  Evaluator ev(std::move(cluster));
  auto t2 = Clock::now();
  if (!loader.problems().empty()) {
    std::fprintf(stderr, "unexpected problem: %s\n", loader.problems()[0].ToString().c_str());
    return 1;
  }

  std::mt19937 rng(7);
  const int n_pods = static_cast<int>(ev.cluster().pods.size());
  std::uniform_int_distribution<int> pick(0, n_pods - 1);
  const int ports[] = {53, 80, 443, 8080, 8081, 9090, 15008, 8050};
  std::vector<std::tuple<Endpoint, Endpoint, int, Protocol>> queries;
  queries.reserve(100000);
  for (int i = 0; i < 100000; ++i) {
    Endpoint a = ev.PodEndpoint(pick(rng));
    Endpoint b = ev.PodEndpoint(pick(rng));
    if (i % 10 == 0) {
      a = *ev.Resolve("203.0.113.7");
    }
    if (i % 10 == 1) {
      b = *ev.Resolve("198.51.100.9");
    }
    queries.emplace_back(a, b, ports[i % 8], i % 5 == 0 ? Protocol::kUDP : Protocol::kTCP);
  }
  auto t3 = Clock::now();
  int allowed = 0;
  for (const auto& [a, b, port, proto] : queries) {
    allowed += ev.Evaluate(a, b, port, proto).allowed;
  }
  auto t4 = Clock::now();

  std::vector<int> all(n_pods);
  for (int i = 0; i < n_pods; ++i) {
    all[i] = i;
  }
  Report report = Analyze(ev, all, all, AnalysisOptions());
  auto t5 = Clock::now();

  // Reference: what one Enroll cost the gate before it kept an index per snapshot (copy the
  // snapshot, add the pod, index, analyse it).
  auto t6 = Clock::now();
  const int kChecks = 20;
  size_t check_findings = 0;
  for (int i = 0; i < kChecks; ++i) {
    Cluster copy = ev.cluster();
    Pod pod = copy.pods[(i * 37) % n_pods];
    copy.UpsertPod(pod);
    Evaluator one(std::move(copy));
    int idx = *one.FindPod(pod.ns, pod.name);
    check_findings += Analyze(one, {idx}, all, AnalysisOptions()).findings.size();
  }
  auto t7 = Clock::now();

  // The daemon's gate: the snapshot indexed once, every pod enrolled, then one Check per Enroll
  // of 200 different pods: pods of the snapshot, then new pods (not in it; a third with labels
  // no pod has).
  SnapshotPolicyGate gate;
  auto t8 = Clock::now();
  gate.SetSnapshot(ev.cluster());
  auto t9 = Clock::now();
  std::vector<probesnat::agent::PodSpec> enrolled, known, fresh;
  for (const Pod& p : ev.cluster().pods) {
    if (!p.host_network) {
      enrolled.push_back(SpecFromPod(p));
    }
  }
  gate.SetEnrolled(enrolled);
  const int kGateChecks = 200;
  for (int i = 0; i < kGateChecks; ++i) {
    Pod p = ev.cluster().pods[(i * 37) % n_pods];
    known.push_back(SpecFromPod(p));
    p.name += "-new";
    p.uid += "-new";
    if (i % 3 == 0) {
      p.labels["app"] = "new";
    }
    p.ips = {
        *IpAddress::Parse("10.99." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1))};
    fresh.push_back(SpecFromPod(p));
  }
  CheckTimes known_t = TimeChecks(gate, known);
  CheckTimes fresh_t = TimeChecks(gate, fresh);
  CheckTimes warm_t = TimeChecks(gate, known);  // again: the fix-YAML memo holds their edits
  // As in the daemon, whose enrolled set is its own node's mesh pods (the generator spreads pods
  // over 4 nodes): the pods of node0 enrolled, a fresh snapshot (cold fix-YAML memo).
  SnapshotPolicyGate node_gate;
  node_gate.SetSnapshot(ev.cluster());
  std::vector<probesnat::agent::PodSpec> node_enrolled;
  for (const Pod& p : ev.cluster().pods) {
    if (!p.host_network && p.node_name == "node0") {
      node_enrolled.push_back(SpecFromPod(p));
    }
  }
  node_gate.SetEnrolled(node_enrolled);
  CheckTimes node_t = TimeChecks(node_gate, known);

  std::printf("cluster: %d namespaces, %d pods, %zu policies (%zu bytes of YAML)\n",
              static_cast<int>(ev.cluster().namespaces.size()), n_pods,
              ev.cluster().policies.size(), text.size());
  std::printf("load (parse manifests):          %8.1f ms\n", Ms(t0, t1));
  std::printf("index (selectors per policy):    %8.1f ms\n", Ms(t1, t2));
  std::printf("evaluate 100000 queries:         %8.1f ms (%.2f us/query, %d allowed)\n", Ms(t3, t4),
              Ms(t3, t4) * 1000.0 / 100000, allowed);
  std::printf("analyse every pod (%zu subjects): %8.1f ms (%zu findings, %zu policies to fix)\n",
              report.subjects.size(), Ms(t4, t5), report.findings.size(), report.fixes.size());
  std::printf(
      "one-pod check incl. snapshot copy + index (before, avg of %d): %6.1f ms (%zu findings)\n",
      kChecks, Ms(t6, t7) / kChecks, check_findings);
  std::printf("gate snapshot index (SetSnapshot, once per snapshot): %6.1f ms\n", Ms(t8, t9));
  std::printf(
      "one-pod check (gate, %d pods of the snapshot, %zu enrolled): avg %.3f ms, p99 %.3f ms "
      "(%zu findings)\n",
      kGateChecks, enrolled.size(), known_t.avg_ms, known_t.p99_ms, known_t.findings);
  std::printf(
      "one-pod check (gate, %d pods new to the snapshot, %zu enrolled): avg %.3f ms, p99 %.3f ms "
      "(%zu findings)\n",
      kGateChecks, enrolled.size(), fresh_t.avg_ms, fresh_t.p99_ms, fresh_t.findings);
  std::printf(
      "one-pod check (gate, the same %d pods again, fix YAML memoized): avg %.3f ms, p99 %.3f ms\n",
      kGateChecks, warm_t.avg_ms, warm_t.p99_ms);
  std::printf(
      "one-pod check (gate, %d pods of the snapshot, %zu enrolled = node0's): avg %.3f ms, "
      "p99 %.3f ms (%zu findings)\n",
      kGateChecks, node_enrolled.size(), node_t.avg_ms, node_t.p99_ms, node_t.findings);

  // The enrolled set pulled as the daemon wired it before issue 13 (every Check lists the
  // reconciler and converts every enrolled pod; here SetEnrolled of the pulled list before
  // each Check, timed with it) next to the push paths (SetEnrolled once; AddEnrolled once per pod,
  // as the daemon now pushes at each Enroll), each gate with a fresh snapshot (cold fix-YAML
  // memo), the same pods checked on all three in turn.
  ReconcilerListStandIn reconciler(enrolled);
  SnapshotPolicyGate pulled_gate;
  pulled_gate.SetSnapshot(ev.cluster());
  const std::function<std::vector<probesnat::agent::PodSpec>()> source = reconciler.Source();
  SnapshotPolicyGate set_gate;
  set_gate.SetSnapshot(ev.cluster());
  std::vector<double> set_ms;
  const int kSets = 20;
  for (int i = 0; i < kSets; ++i) {
    auto a = Clock::now();
    set_gate.SetEnrolled(enrolled);
    set_ms.push_back(Ms(a, Clock::now()));
  }
  SnapshotPolicyGate add_gate;
  add_gate.SetSnapshot(ev.cluster());
  std::vector<double> add_ms;
  for (const probesnat::agent::PodSpec& p : enrolled) {
    auto a = Clock::now();
    add_gate.AddEnrolled(p);
    add_ms.push_back(Ms(a, Clock::now()));
  }
  const std::vector<Checker> gates = {
      [&](const probesnat::agent::PodSpec& p) {
        pulled_gate.SetEnrolled(source());
        return pulled_gate.Check(p).value();
      },
      [&](const probesnat::agent::PodSpec& p) { return set_gate.Check(p).value(); },
      [&](const probesnat::agent::PodSpec& p) { return add_gate.Check(p).value(); }};
  const std::vector<CheckTimes> on_known = TimeChecksInTurn(gates, known);
  const std::vector<CheckTimes> on_fresh = TimeChecksInTurn(gates, fresh);
  // Unenroll on the push path: RemoveEnrolled of one pod with the whole set enrolled.
  std::vector<double> remove_ms;
  for (const probesnat::agent::PodSpec& p : fresh) {
    add_gate.AddEnrolled(p);
    auto a = Clock::now();
    add_gate.RemoveEnrolled(p.uid);
    remove_ms.push_back(Ms(a, Clock::now()));
  }

  const char* kHow[] = {
      "pulled per Check as wired before issue 13 (every enrolled pod listed and converted per "
      "Check)",
      "pushed once (SetEnrolled)", "pushed per Enroll (AddEnrolled, as the daemon wires it)"};
  for (const auto& [pods, times] :
       {std::pair{"of the snapshot", &on_known}, std::pair{"new to the snapshot", &on_fresh}}) {
    for (size_t g = 0; g < gates.size(); ++g) {
      const CheckTimes& t = (*times)[g];
      std::printf(
          "per-Enroll check, %d pods %s, %zu enrolled %s: avg %.3f ms, p50 %.3f ms, p99 %.3f ms "
          "(%zu findings)\n",
          kGateChecks, pods, enrolled.size(), kHow[g], t.avg_ms, t.p50_ms, t.p99_ms, t.findings);
    }
    if ((*times)[0].findings != (*times)[1].findings ||
        (*times)[0].findings != (*times)[2].findings) {
      std::fprintf(stderr, "the pulled and the pushed gates disagree on the findings\n");
      return 1;
    }
  }
  PrintTimes(("push cost: SetEnrolled of " + std::to_string(enrolled.size()) + " pods (" +
              std::to_string(kSets) + " calls)")
                 .c_str(),
             Summarize(set_ms));
  PrintTimes(("push cost: AddEnrolled of one pod, 0 to " + std::to_string(enrolled.size() - 1) +
              " enrolled (" + std::to_string(add_ms.size()) + " calls)")
                 .c_str(),
             Summarize(add_ms));
  PrintTimes(("push cost: RemoveEnrolled of one pod, " + std::to_string(enrolled.size() + 1) +
              " enrolled (" + std::to_string(remove_ms.size()) + " calls)")
                 .c_str(),
             Summarize(remove_ms));
  return 0;
}
