// Property: applying every suggested fix and analysing again gives no findings.
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"

#include "agent/policy/analysis.h"
#include "agent/policy/policy_yaml.h"
#include "agent/policy/testing/apply_fixes.h"
#include "agent/policy/testing/cluster_gen.h"

namespace probesnat::policy {
namespace {

std::vector<int> Subjects(const Cluster& c, uint32_t seed) {
  std::vector<int> out;
  const std::string ns = absl::StrCat("ns", seed % 3);
  for (int i = 0; i < static_cast<int>(c.pods.size()); ++i) {
    if (seed % 4 == 0 || c.pods[i].ns == ns) {
      out.push_back(i);  // a namespace, or everything
    }
  }
  return out;
}

TEST(FixProperty, ApplyingAllFixesLeavesNoFindings) {
  int with_findings = 0;
  int kinds[4] = {0, 0, 0, 0};
  for (uint32_t seed = 1; seed <= 300; ++seed) {
    testing::GenOptions o;
    o.namespaces = 3 + seed % 3;
    o.pods = 12 + seed % 20;
    o.policies = 4 + seed % 12;
    Cluster cluster = testing::GenerateCluster(o, seed);
    AnalysisOptions ao;
    if (seed % 5 == 0) {
      ao.extra_probe_ports = {8080, 15020};
    }
    std::vector<int> subjects;
    {
      Evaluator ev(cluster);
      subjects = Subjects(ev.cluster(), seed);
      Report before = Analyze(ev, subjects, subjects, ao);
      if (!before.findings.empty()) {
        ++with_findings;
      }
      for (const Finding& f : before.findings) {
        ++kinds[static_cast<int>(f.kind)];
        EXPECT_FALSE(f.fix_yaml.empty());
        EXPECT_FALSE(f.affected_peers.empty());
      }
      absl::StatusOr<Cluster> fixed = testing::ApplyFixes(ev.cluster(), before);
      ASSERT_TRUE(fixed.ok()) << fixed.status();
      Evaluator ev2(*fixed);
      Report after = Analyze(ev2, subjects, subjects, ao);
      ASSERT_TRUE(after.findings.empty())
          << "seed " << seed << ": " << after.findings.size()
          << " findings remain; first: " << after.findings[0].message << "\n"
          << after.findings[0].fix_yaml;
    }
  }
  // The property must not hold vacuously: most clusters have something to fix, of every kind.
  EXPECT_GT(with_findings, 150);
  EXPECT_GT(kinds[static_cast<int>(FindingKind::kHboneIngress)], 50);
  EXPECT_GT(kinds[static_cast<int>(FindingKind::kHboneEgress)], 20);
  EXPECT_GT(kinds[static_cast<int>(FindingKind::kProbeIngress)], 50);
}

TEST(FixProperty, FixesDoNotWidenAnythingButTunnelAndProbeTraffic) {
  // For every pair of pods and a set of non-tunnel ports, the verdict is unchanged by the fixes.
  for (uint32_t seed = 1; seed <= 60; ++seed) {
    testing::GenOptions o;
    o.pods = 20;
    o.policies = 12;
    Cluster cluster = testing::GenerateCluster(o, seed);
    Evaluator ev(cluster);
    std::vector<int> all(ev.cluster().pods.size());
    for (size_t i = 0; i < all.size(); ++i) {
      all[i] = static_cast<int>(i);
    }
    Report rep = Analyze(ev, all, all, AnalysisOptions());
    absl::StatusOr<Cluster> fixed = testing::ApplyFixes(ev.cluster(), rep);
    ASSERT_TRUE(fixed.ok()) << fixed.status();
    Evaluator ev2(*fixed);
    for (int a : all) {
      for (int b : all) {
        for (int port : {53, 8080, 8081, 9090, 8050}) {
          for (Protocol proto : {Protocol::kTCP, Protocol::kUDP}) {
            Verdict v1 = ev.Evaluate(ev.PodEndpoint(a), ev.PodEndpoint(b), port, proto);
            Verdict v2 = ev2.Evaluate(ev2.PodEndpoint(a), ev2.PodEndpoint(b), port, proto);
            ASSERT_EQ(v1.allowed, v2.allowed)
                << "seed " << seed << " " << a << "->" << b << ":" << port;
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace probesnat::policy
