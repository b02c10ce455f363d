// The incremental path (a view of a shared snapshot index, and the gate built on it) gives the same
// findings as a from-scratch analysis of the snapshot with the pods upserted.
#include <gtest/gtest.h>

#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

#include "agent/policy/analysis.h"
#include "agent/policy/pod_convert.h"
#include "agent/policy/snapshot_policy_gate.h"
#include "agent/policy/testing/cluster_gen.h"

namespace probesnat::policy {
namespace {

std::string Render(const Finding& f) {
  return absl::StrCat(SeverityName(f.severity), " ", FindingKindName(f.kind), " ", f.subject, " ",
                      f.policy_namespace, "/", f.policy_name, " ", f.rule_index, " ",
                      DirectionName(f.direction), " [", absl::StrJoin(f.affected_peers, ","), "] ",
                      f.cni_dependent, "\n", f.message, "\n", f.fix_yaml);
}

std::vector<std::string> Render(const Report& r) {
  std::vector<std::string> out;
  for (const Finding& f : r.findings) {
    out.push_back(Render(f));
  }
  for (const PolicyFix& f : r.fixes) {
    out.push_back(absl::StrCat("fix ", f.policy_namespace, "/", f.policy_name, "\n", f.yaml));
  }
  for (const std::string& n : r.notes) {
    out.push_back(absl::StrCat("note ", n));
  }
  return out;
}

// Pods a Check adds: a pod of the snapshot as it is, with other labels, or a new pod (sometimes in
// a namespace the snapshot lacks).
Pod Variant(const Cluster& c, std::mt19937& rng, int kind, int serial) {
  const Pod& src = c.pods[rng() % c.pods.size()];
  Pod p = src;
  const char* apps[] = {"web", "api", "db", "cache", "worker", "other"};
  switch (kind) {
    case 0:
      break;  // unchanged
    case 1:
      p.labels["app"] = apps[rng() % 6];
      if (rng() % 2) {
        p.labels.erase("tier");
      } else {
        p.labels["tier"] = "front";
      }
      p.host_network = false;
      break;
    default:
      p.name = absl::StrCat("new-", serial);
      p.uid = absl::StrCat("uid-new-", serial);
      p.labels["app"] = apps[rng() % 6];
      p.host_network = false;
      if (rng() % 4 == 0) {
        p.ns = absl::StrCat("fresh", serial % 2);
      }
      p.ips = {*IpAddress::Parse(absl::StrCat("10.200.", serial / 200, ".", serial % 200 + 1))};
      if (rng() % 3 == 0) {
        p.ips.push_back(*IpAddress::Parse(absl::StrCat("fd00:200::", serial + 1)));
      }
      break;
  }
  return p;
}

TEST(IncrementalAnalysis, ViewGivesTheFindingsOfAFromScratchAnalysis) {
  int compared = 0, with_findings = 0;
  for (uint32_t seed = 1; seed <= 120; ++seed) {
    testing::GenOptions o;
    o.namespaces = 3 + seed % 4;
    o.pods = 15 + seed % 25;
    o.policies = 4 + seed % 14;
    const Cluster cluster = testing::GenerateCluster(o, seed);
    const Evaluator base(cluster);
    FixYamlCache cache;  // shared by every check of this snapshot, as in the gate
    std::mt19937 rng(seed);
    for (int check = 0; check < 6; ++check) {
      const int kind = check % 3;  // unchanged, other labels, new pod
      Pod subject = Variant(base.cluster(), rng, kind, check);
      // Enrolled: some snapshot pods and, every other check, two pods the snapshot lacks.
      std::vector<Pod> extras;
      if (check % 2 == 1) {
        extras.push_back(Variant(base.cluster(), rng, 2, 100 + check));
        extras.push_back(Variant(base.cluster(), rng, 2, 200 + check));
      }
      std::vector<int> enrolled;
      for (int i = 0; i < base.pod_count(); ++i) {
        if (rng() % 3 == 0) {
          enrolled.push_back(i);
        }
      }
      Cluster scratch = base.cluster();
      for (const Pod& e : extras) {
        scratch.UpsertPod(e);
      }
      scratch.UpsertPod(subject);
      const Evaluator full(std::move(scratch));
      std::vector<Pod> added = extras;
      added.push_back(subject);
      const Evaluator view = base.WithPods(added);

      ASSERT_EQ(view.pod_count(), full.pod_count()) << "seed " << seed;
      const int idx = *full.FindPod(subject.ns, subject.name);
      ASSERT_EQ(*view.FindPod(subject.ns, subject.name), idx);
      for (const Pod& e : extras) {
        int i = *full.FindPod(e.ns, e.name);
        ASSERT_EQ(*view.FindPod(e.ns, e.name), i);
        enrolled.push_back(i);
      }
      for (int i = 0; i < full.pod_count(); ++i) {
        for (Direction d : {Direction::kIngress, Direction::kEgress}) {
          ASSERT_EQ(view.PoliciesSelecting(i, d), full.PoliciesSelecting(i, d))
              << "seed " << seed << " pod " << i;
        }
      }
      // Verdicts to and from the subject agree, with the deciding rules.
      for (int other = 0; other < full.pod_count(); ++other) {
        for (int port : {80, 8080, 9090, 15008}) {
          for (auto [a, b] : {std::pair{idx, other}, std::pair{other, idx}}) {
            Verdict fv =
                full.Evaluate(full.PodEndpoint(a), full.PodEndpoint(b), port, Protocol::kTCP);
            Verdict vv =
                view.Evaluate(view.PodEndpoint(a), view.PodEndpoint(b), port, Protocol::kTCP);
            ASSERT_EQ(fv.allowed, vv.allowed) << "seed " << seed << " " << a << "->" << b;
            ASSERT_EQ(fv.reason, vv.reason);
            ASSERT_EQ(fv.ingress.allowed_by.size(), vv.ingress.allowed_by.size());
            ASSERT_EQ(fv.egress.allowed_by.size(), vv.egress.allowed_by.size());
          }
        }
      }
      AnalysisOptions ao;
      if (seed % 5 == 0) {
        ao.extra_probe_ports = {8080, 15020};
      }
      Report want = Analyze(full, {idx}, enrolled, ao);
      Report got = Analyze(view, {idx}, enrolled, ao, &cache);
      ASSERT_EQ(Render(got), Render(want)) << "seed " << seed << " check " << check;
      ++compared;
      with_findings += want.findings.empty() ? 0 : 1;
    }
  }
  EXPECT_EQ(compared, 720);
  EXPECT_GT(with_findings, 300);  // not vacuous
}

// The gate as it was: copy the snapshot, add the enrolled pods it lacks and the requested pod
// (inheriting node, host IPs, named ports and probes from the snapshot's pod), index, analyse.
std::vector<std::string> FromScratchGate(const Cluster& snapshot, const agent::PodSpec& request,
                                         const std::vector<agent::PodSpec>& enrolled_specs) {
  Pod subject = *PodFromSpec(request);
  Cluster cluster = snapshot;
  std::vector<std::string> keys;
  for (const agent::PodSpec& p : enrolled_specs) {
    absl::StatusOr<Pod> e = PodFromSpec(p);
    if (!e.ok() || (e->ns == subject.ns && e->name == subject.name)) {
      continue;
    }
    keys.push_back(e->Key());
    bool known = false;
    for (const Pod& c : cluster.pods) {
      known = known || (c.ns == e->ns && c.name == e->name);
    }
    if (!known) {
      cluster.UpsertPod(*std::move(e));
    }
  }
  for (const Pod& old : cluster.pods) {
    if (old.ns == subject.ns && old.name == subject.name) {
      if (subject.ports.empty()) {
        subject.ports = old.ports;
      }
      if (subject.ips.empty()) {
        subject.ips = old.ips;
      }
      subject.node_name = old.node_name;
      subject.host_ips = old.host_ips;
      subject.probes.insert(subject.probes.end(), old.probes.begin(), old.probes.end());
      break;
    }
  }
  const std::string ns = subject.ns, name = subject.name;
  cluster.UpsertPod(std::move(subject));
  Evaluator ev(std::move(cluster));
  std::vector<int> idx;
  for (const std::string& k : keys) {
    size_t slash = k.find('/');
    idx.push_back(*ev.FindPod(k.substr(0, slash), k.substr(slash + 1)));
  }
  std::vector<std::string> out;
  for (const Finding& f : Analyze(ev, {*ev.FindPod(ns, name)}, idx, AnalysisOptions()).findings) {
    out.push_back(Render(f));
  }
  return out;
}

TEST(CheckGateIncremental, SameFindingsAsCopyingTheSnapshotPerCheck) {
  int with_findings = 0;
  for (uint32_t seed = 1; seed <= 40; ++seed) {
    testing::GenOptions o;
    o.namespaces = 4;
    o.pods = 30;
    o.policies = 12 + seed % 8;
    const Cluster cluster = testing::GenerateCluster(o, seed);
    SnapshotPolicyGate gate;
    gate.SetSnapshot(cluster);
    std::mt19937 rng(seed);
    std::vector<agent::PodSpec> enrolled;
    for (const Pod& p : cluster.pods) {
      if (!p.host_network && rng() % 2 == 0) {
        enrolled.push_back(SpecFromPod(p));
      }
    }
    enrolled.push_back(SpecFromPod(Variant(cluster, rng, 2, 500)));  // not in the snapshot
    gate.SetEnrolled(enrolled);
    for (int check = 0; check < 9; ++check) {
      Pod p = Variant(cluster, rng, check % 3, check);
      agent::PodSpec request = SpecFromPod(p);
      if (check % 4 == 0) {
        request.container_ports.clear();  // inherited from the snapshot's pod
        request.probe_ports.push_back(8080);
      }
      std::vector<std::string> got;
      absl::StatusOr<std::vector<Finding>> findings = gate.Check(request);
      ASSERT_TRUE(findings.ok()) << findings.status();
      for (const Finding& f : *findings) {
        got.push_back(Render(f));
      }
      ASSERT_EQ(got, FromScratchGate(cluster, request, enrolled))
          << "seed " << seed << " check " << check;
      with_findings += got.empty() ? 0 : 1;
    }
  }
  EXPECT_GT(with_findings, 100);
}

}  // namespace
}  // namespace probesnat::policy
