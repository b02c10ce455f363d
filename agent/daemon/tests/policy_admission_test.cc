#include "agent/daemon/policy_admission.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace probesnat::daemon {
namespace {

using ::testing::HasSubstr;

class ScriptedGate : public agent::PolicyGate {
 public:
  absl::StatusOr<std::vector<agent::Finding>> Check(const agent::PodSpec& pod) const override {
    ++calls;
    if (!error.ok()) {
      return error;
    }
    return findings;
  }
  agent::PolicySnapshotInfo Snapshot() const override {
    agent::PolicySnapshotInfo info;
    info.loaded = loaded;
    return info;
  }
  bool loaded = true;
  std::vector<agent::Finding> findings;
  absl::Status error;
  mutable int calls = 0;
};

using agent::Severity;

agent::Finding MakeFinding(Severity severity, const std::string& name, int rule,
                           const std::string& message) {
  agent::Finding f;
  f.severity = severity;
  f.policy_namespace = "shop";
  f.policy_name = name;
  f.rule_index = rule;
  f.direction = agent::Direction::kIngress;
  f.message = message;
  return f;
}

agent::PodSpec Pod() {
  agent::PodSpec p;
  p.uid = "u1";
  p.ns = "shop";
  p.name = "web";
  return p;
}

TEST(PolicyModeTest, RequestModeMayOnlyTightenTheConfiguredOne) {
  EXPECT_EQ(ResolvePolicyMode(v1::POLICY_MODE_UNSPECIFIED, PolicyMode::kEnforce),
            PolicyMode::kEnforce);
  EXPECT_EQ(ResolvePolicyMode(v1::POLICY_MODE_OFF, PolicyMode::kEnforce), PolicyMode::kEnforce);
  EXPECT_EQ(ResolvePolicyMode(v1::POLICY_MODE_WARN, PolicyMode::kOff), PolicyMode::kWarn);
  EXPECT_EQ(ResolvePolicyMode(v1::POLICY_MODE_ENFORCE, PolicyMode::kWarn), PolicyMode::kEnforce);
}

// Fail closed: no snapshot means nothing can be checked, and enforce must not pass that as "no
// finding".
TEST(AdmitPodTest, EnforceWithoutASnapshotRefusesWithoutConsultingTheGate) {
  ScriptedGate gate;
  gate.loaded = false;
  Admission a = AdmitPod(Pod(), PolicyMode::kEnforce, &gate);
  EXPECT_TRUE(a.refused);
  EXPECT_EQ(gate.calls, 0);
  EXPECT_THAT(a.refusal, HasSubstr("shop/web (uid u1) refused in policy mode enforce"));
  EXPECT_THAT(a.refusal, HasSubstr("no policy snapshot loaded"));
  EXPECT_THAT(a.refusal, HasSubstr("Policy.ReplaceSnapshot"));
  EXPECT_TRUE(a.findings.empty());
}

TEST(AdmitPodTest, NoGateIsNoSnapshot) {
  Admission enforce = AdmitPod(Pod(), PolicyMode::kEnforce, nullptr);
  EXPECT_TRUE(enforce.refused);
  EXPECT_THAT(enforce.refusal, HasSubstr("no policy snapshot loaded"));
  Admission warn = AdmitPod(Pod(), PolicyMode::kWarn, nullptr);
  EXPECT_FALSE(warn.refused);
  ASSERT_EQ(warn.findings.size(), 1u);
  EXPECT_EQ(warn.findings[0].kind, agent::FindingKind::kNotChecked);
  EXPECT_TRUE(AdmitPod(Pod(), PolicyMode::kOff, nullptr).findings.empty());
}

TEST(AdmitPodTest, WarnWithoutASnapshotAdmitsAndSaysNothingWasChecked) {
  ScriptedGate gate;
  gate.loaded = false;
  gate.findings = {MakeFinding(Severity::kError, "deny", 0, "blocks 15008")};
  Admission a = AdmitPod(Pod(), PolicyMode::kWarn, &gate);
  EXPECT_FALSE(a.refused);
  EXPECT_EQ(gate.calls, 0);
  ASSERT_EQ(a.findings.size(), 1u);
  EXPECT_EQ(a.findings[0].kind, agent::FindingKind::kNotChecked);
  EXPECT_EQ(a.findings[0].severity, Severity::kWarning);
  EXPECT_EQ(a.findings[0].subject, "shop/web");
  EXPECT_THAT(a.findings[0].message, HasSubstr("without a NetworkPolicy check"));
  EXPECT_THAT(a.findings[0].message, HasSubstr("no policy snapshot loaded"));
}

TEST(AdmitPodTest, OffWithoutASnapshotNeitherRefusesNorReports) {
  ScriptedGate gate;
  gate.loaded = false;
  Admission a = AdmitPod(Pod(), PolicyMode::kOff, &gate);
  EXPECT_FALSE(a.refused);
  EXPECT_TRUE(a.findings.empty());
}

TEST(AdmitPodTest, WithASnapshotTheGateDecides) {
  ScriptedGate gate;  // loaded, no findings
  Admission a = AdmitPod(Pod(), PolicyMode::kEnforce, &gate);
  EXPECT_FALSE(a.refused);
  EXPECT_EQ(gate.calls, 1);
  EXPECT_TRUE(a.findings.empty());
}

TEST(AdmitPodTest, OffDoesNotConsultTheGate) {
  ScriptedGate gate;
  gate.findings = {MakeFinding(Severity::kError, "deny", 0, "blocks 15008")};
  Admission a = AdmitPod(Pod(), PolicyMode::kOff, &gate);
  EXPECT_EQ(gate.calls, 0);
  EXPECT_FALSE(a.refused);
  EXPECT_TRUE(a.findings.empty());
}

TEST(AdmitPodTest, WarnAdmitsAndKeepsFindings) {
  ScriptedGate gate;
  gate.findings = {MakeFinding(Severity::kError, "deny", 0, "blocks 15008")};
  Admission a = AdmitPod(Pod(), PolicyMode::kWarn, &gate);
  EXPECT_FALSE(a.refused);
  ASSERT_EQ(a.findings.size(), 1u);
  EXPECT_EQ(a.findings[0].policy_name, "deny");
}

TEST(AdmitPodTest, EnforceRefusesOnBlockingFindingsAndListsEach) {
  ScriptedGate gate;
  gate.findings = {MakeFinding(Severity::kError, "allow-web", 0, "port 15008 is not allowed"),
                   MakeFinding(Severity::kWarning, "deny-all", -1, "probes from 169.254.7.127"),
                   MakeFinding(Severity::kInfo, "other", 2, "informational only")};
  Admission a = AdmitPod(Pod(), PolicyMode::kEnforce, &gate);
  EXPECT_TRUE(a.refused);
  EXPECT_EQ(a.findings.size(), 3u);
  EXPECT_THAT(a.refusal, HasSubstr("shop/web"));
  EXPECT_THAT(a.refusal, HasSubstr("2 NetworkPolicy finding(s)"));
  EXPECT_THAT(a.refusal, HasSubstr("shop/allow-web, ingress rule 0"));
  EXPECT_THAT(a.refusal, HasSubstr("port 15008 is not allowed"));
  EXPECT_THAT(a.refusal, HasSubstr("shop/deny-all, (whole policy)"));
  EXPECT_THAT(a.refusal, ::testing::Not(HasSubstr("informational only")));
}

TEST(AdmitPodTest, EnforceAdmitsWhenOnlyInfoFindings) {
  ScriptedGate gate;
  gate.findings = {MakeFinding(Severity::kInfo, "other", 0, "fyi")};
  Admission a = AdmitPod(Pod(), PolicyMode::kEnforce, &gate);
  EXPECT_FALSE(a.refused);
  EXPECT_EQ(a.findings.size(), 1u);
}

TEST(AdmitPodTest, AFailedCheckRefusesInEnforceAndIsReportedInWarn) {
  ScriptedGate gate;
  gate.error = absl::InvalidArgumentError("pod.ips: \"x\" is not an IP address");
  Admission enforce = AdmitPod(Pod(), PolicyMode::kEnforce, &gate);
  EXPECT_TRUE(enforce.refused);
  EXPECT_THAT(enforce.refusal, HasSubstr("shop/web (uid u1) refused in policy mode enforce"));
  EXPECT_THAT(enforce.refusal, HasSubstr("NetworkPolicy check of shop/web failed: pod.ips"));

  Admission warn = AdmitPod(Pod(), PolicyMode::kWarn, &gate);
  EXPECT_FALSE(warn.refused);
  ASSERT_EQ(warn.findings.size(), 1u);
  EXPECT_EQ(warn.findings[0].severity, Severity::kError);
  EXPECT_EQ(warn.findings[0].kind, agent::FindingKind::kNotChecked);
  EXPECT_THAT(warn.findings[0].message, HasSubstr("check of shop/web failed: pod.ips"));
}

TEST(DescribePolicySnapshotTest, SaysWhatEachModeDoesWithoutASnapshot) {
  agent::PolicySnapshotInfo none;
  const absl::Time now = absl::Now();
  EXPECT_EQ(DescribePolicySnapshot(none, PolicyMode::kEnforce, now),
            "policy snapshot: none loaded; policy mode enforce refuses every Enroll until "
            "Policy.ReplaceSnapshot loads one");
  EXPECT_THAT(DescribePolicySnapshot(none, PolicyMode::kWarn, now),
              HasSubstr("policy mode warn enrolls pods unchecked (finding NOT_CHECKED)"));
  EXPECT_THAT(DescribePolicySnapshot(none, PolicyMode::kOff, now), HasSubstr("does not check"));
}

TEST(DescribePolicySnapshotTest, GivesAgeSourceAndSize) {
  agent::PolicySnapshotInfo info;
  info.loaded = true;
  info.loaded_at = absl::FromUnixSeconds(1796000000);
  info.source = "Policy.ReplaceSnapshot from unix:";
  info.namespaces = 3;
  info.pods = 5;
  info.policies = 2;
  EXPECT_EQ(
      DescribePolicySnapshot(info, PolicyMode::kEnforce, info.loaded_at + absl::Seconds(42.5)),
      "policy snapshot: loaded 42.5 s ago (2026-11-30T00:53:20+00:00) from "
      "Policy.ReplaceSnapshot from unix:: 3 namespaces, 5 pods, 2 NetworkPolicies; policy "
      "mode enforce");
}

}  // namespace
}  // namespace probesnat::daemon
