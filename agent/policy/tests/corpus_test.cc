// Table-driven corpus: every testdata/corpus/<case>/ holds manifests (*.yaml, *.json) and
// queries.jsonl lines {"from", "to", "port", "protocol"?, "expect": bool, "why"?}.
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "agent/policy/evaluator.h"
#include "agent/policy/manifest_loader.h"

namespace probesnat::policy {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> Cases() {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(std::string(POLICY_TESTDATA) + "/corpus")) {
    if (e.is_directory()) {
      out.push_back(e.path().filename().string());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

class CorpusTest : public ::testing::TestWithParam<std::string> {};

TEST_P(CorpusTest, EveryQueryGetsTheExpectedVerdict) {
  const std::string dir = std::string(POLICY_TESTDATA) + "/corpus/" + GetParam();
  ManifestLoader loader;
  for (const auto& e : fs::directory_iterator(dir)) {
    std::string ext = e.path().extension().string();
    if (ext == ".yaml" || ext == ".json") {
      ASSERT_TRUE(loader.AddPath(e.path().string()).ok());
    }
  }
  for (const LoadProblem& p : loader.problems()) {
    ADD_FAILURE() << p.ToString();
  }
  Evaluator ev(loader.TakeCluster());
  std::ifstream in(dir + "/queries.jsonl");
  ASSERT_TRUE(in) << dir;
  std::string line;
  int n = 0;
  for (int lineno = 1; std::getline(in, line); ++lineno) {
    if (line.empty()) {
      continue;
    }
    nlohmann::json q = nlohmann::json::parse(line);
    absl::StatusOr<Endpoint> from = ev.Resolve(q["from"].get<std::string>());
    absl::StatusOr<Endpoint> to = ev.Resolve(q["to"].get<std::string>());
    ASSERT_TRUE(from.ok() && to.ok()) << "line " << lineno;
    Protocol proto = ParseProtocol(q.value("protocol", "TCP")).value();
    Verdict v = ev.Evaluate(*from, *to, q["port"].get<int>(), proto);
    EXPECT_EQ(v.allowed, q["expect"].get<bool>())
        << GetParam() << " line " << lineno << ": " << line << "\n  reason: " << v.reason
        << "\n  egress: " << v.egress.reason << "\n  ingress: " << v.ingress.reason;
    ++n;
  }
  EXPECT_GT(n, 5);
}

INSTANTIATE_TEST_SUITE_P(Corpus, CorpusTest, ::testing::ValuesIn(Cases()),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace probesnat::policy
