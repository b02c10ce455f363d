// Every log record is one line, whatever its message holds: multi-line findings (a fix's YAML,
// a refusal listing one finding a line) must not split a record, in text and JSON formats.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "agent/daemon/finding_log.h"
#include "agent/daemon/logging.h"
#include "agent/daemon/testing/log_capture.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "spdlog/spdlog.h"

namespace probesnat::daemon {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;

constexpr char kFixYaml[] =
    "apiVersion: networking.k8s.io/v1\n"
    "kind: NetworkPolicy\n"
    "metadata:\n"
    "  name: \"web\"\n"
    "  namespace: \"shop\"\n"
    "spec:\n"
    "  podSelector: {}\n"
    "  ingress:\n"
    "    - ports:\n"
    "        - port: 8080\n"
    "        - port: 15008\n"
    "          protocol: TCP\n";

agent::Finding MultiLineFinding() {
  agent::Finding f;
  f.severity = agent::Severity::kError;
  f.kind = agent::FindingKind::kHboneIngress;
  f.subject = "shop/web-0";
  f.policy_namespace = "shop";
  f.policy_name = "web";
  f.rule_index = 0;
  f.message = "first line\nsecond line";
  f.affected_peers = {"shop/client", "10.0.0.0/8"};
  f.fix_yaml = kFixYaml;
  return f;
}

// One record: one line, ended by its only line break.
void ExpectOneLine(const std::string& record) {
  ASSERT_FALSE(record.empty());
  EXPECT_EQ(record.back(), '\n') << record;
  EXPECT_EQ(record.find('\n'), record.size() - 1) << record;
  EXPECT_EQ(record.find('\r'), std::string::npos) << record;
}

TEST(LogRecordsTest, TextEscapesLineBreaksAndControlBytes) {
  testing::LogCapture capture;
  spdlog::warn("refused:\n  - one\r\n  - two\t\x1b[31m");
  std::vector<std::string> records = capture.records();
  ASSERT_EQ(records.size(), 1u);
  ExpectOneLine(records[0]);
  EXPECT_THAT(records[0],
              MatchesRegex("[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z warning refused:\\\\n  - one"
                           "\\\\r\\\\n  - two\\\\t\\\\x1b\\[31m\n"));
  EXPECT_EQ(OneLine("a\nb"), "a\\nb");
  EXPECT_EQ(OneLine("plain \xc3\xa9 text"), "plain \xc3\xa9 text");  // UTF-8 is kept
}

TEST(LogRecordsTest, JsonIsOneObjectPerLineWithTheMessageIntact) {
  testing::LogCapture capture(LogFormat::kJson);
  const std::string message = "refused:\n  - \"one\"\\ \x01\n  - two";
  spdlog::error("{}", message);
  std::vector<std::string> records = capture.records();
  ASSERT_EQ(records.size(), 1u);
  ExpectOneLine(records[0]);
  nlohmann::json j = nlohmann::json::parse(records[0]);
  EXPECT_EQ(j["msg"], message);
  EXPECT_EQ(j["level"], "error");
  EXPECT_THAT(j["ts"].get<std::string>(),
              MatchesRegex("[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{6}Z"));
}

TEST(LogRecordsTest, EachFindingIsOneRecordWithItsFix) {
  for (LogFormat format : {LogFormat::kText, LogFormat::kJson}) {
    testing::LogCapture capture(format);
    agent::Finding info = MultiLineFinding();
    info.severity = agent::Severity::kInfo;
    LogFindings("enroll", "uid-1", "shop/web-0", {MultiLineFinding(), info});
    std::vector<std::string> records = capture.records();
    ASSERT_EQ(records.size(), 2u);
    for (const std::string& r : records) {
      ExpectOneLine(r);
    }
    std::string first = records[0];
    if (format == LogFormat::kJson) {
      nlohmann::json j = nlohmann::json::parse(records[0]);
      EXPECT_EQ(j["level"], "warning");
      EXPECT_EQ(nlohmann::json::parse(records[1])["level"], "info");
    } else {
      EXPECT_THAT(records[0], HasSubstr(" warning enroll finding 1/2 uid="));
      EXPECT_THAT(records[1], HasSubstr(" info enroll finding 2/2 uid="));
    }
    if (format == LogFormat::kJson) {
      // Every field is a key of its own; client text stays escaped as in the text format.
      nlohmann::json j = nlohmann::json::parse(records[0]);
      EXPECT_EQ(j["msg"], "enroll finding 1/2");
      EXPECT_EQ(j["uid"], "uid-1");
      EXPECT_EQ(j["pod"], "shop/web-0");
      EXPECT_EQ(j["severity"], "ERROR");
      EXPECT_EQ(j["kind"], "HBONE_INGRESS");
      EXPECT_EQ(j["policy"], "shop/web");
      EXPECT_EQ(j["message"], "first line\\x0asecond line");
      EXPECT_THAT(j["fix"].get<std::string>(),
                  HasSubstr("apiVersion: networking.k8s.io/v1\\x0akind: NetworkPolicy"));
      continue;
    }
    EXPECT_THAT(first, HasSubstr("enroll finding 1/2 uid=\"uid-1\" pod=\"shop/web-0\" "
                                 "severity=ERROR kind=HBONE_INGRESS subject=\"shop/web-0\" "
                                 "policy=\"shop/web\" rule=\"ingress 0\" cni_dependent=false "
                                 "peers=\"shop/client,10.0.0.0/8\" "
                                 "message=\"first line\\x0asecond line\" "));
    // The whole fix, its line breaks escaped: a reader can restore it.
    EXPECT_THAT(first, HasSubstr("fix=\"apiVersion: networking.k8s.io/v1\\x0akind: NetworkPolicy"
                                 "\\x0ametadata:\\x0a  name: \\x22web\\x22"));
    EXPECT_THAT(first, HasSubstr("protocol: TCP\\x0a\""));
  }
}

TEST(LogRecordsTest, AFixLargerThanTheLimitIsCutAndSaysSo) {
  testing::LogCapture capture;
  agent::Finding f = MultiLineFinding();
  f.fix_yaml = std::string(kLoggedFixLimit + 100, 'y');
  LogFindings("sync:", "uid-2", "shop/web-1", {f});
  std::vector<std::string> records = capture.records();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_THAT(records[0], HasSubstr(absl::StrCat("...(", kLoggedFixLimit + 100, " bytes)")));
  EXPECT_THAT(records[0], Not(HasSubstr(std::string(kLoggedFixLimit + 1, 'y'))));
}

}  // namespace
}  // namespace probesnat::daemon
