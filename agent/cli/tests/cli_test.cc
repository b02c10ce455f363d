// Runs the built probesnatctl on testdata and checks stdout (JSONL / JSON) and exit codes.
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace {

const std::string kBin = PROBESNATCTL;
const std::string kData = POLICY_TESTDATA;

struct CliRun {
  int code = -1;
  std::string out;
  std::string err;
};

CliRun Exec(const std::string& args, const std::string& stdin_text = "") {
  const std::string dir = ::testing::TempDir();
  const std::string in = dir + "/cli_stdin";
  const std::string err = dir + "/cli_stderr";
  std::ofstream(in) << stdin_text;
  std::string cmd = kBin + " " + args + " <" + in + " 2>" + err;
  CliRun r;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) {
    return r;
  }
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) {
    r.out.append(buf, n);
  }
  int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream e(err);
  std::stringstream ss;
  ss << e.rdbuf();
  r.err = ss.str();
  return r;
}

std::vector<std::string> Lines(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string line;
  while (std::getline(ss, line)) {
    if (!line.empty()) {
      out.push_back(line);
    }
  }
  return out;
}

class CorpusCli : public ::testing::TestWithParam<std::string> {};

TEST_P(CorpusCli, EvalJsonlMatchesExpectedVerdictsInOrder) {
  const std::string dir = kData + "/corpus/" + GetParam();
  CliRun r = Exec("policy eval --cluster " + dir + " --queries " + dir + "/queries.jsonl");
  ASSERT_EQ(r.code, 0) << r.err;
  std::ifstream q(dir + "/queries.jsonl");
  std::stringstream qs;
  qs << q.rdbuf();
  std::vector<std::string> queries = Lines(qs.str());
  std::vector<std::string> out = Lines(r.out);
  ASSERT_EQ(out.size(), queries.size());
  for (size_t i = 0; i < out.size(); ++i) {
    nlohmann::json want = nlohmann::json::parse(queries[i]);
    nlohmann::json got = nlohmann::json::parse(out[i]);
    ASSERT_TRUE(got["allowed"].is_boolean()) << out[i];
    EXPECT_EQ(got["allowed"], want["expect"]) << queries[i] << "\n" << out[i];
    EXPECT_TRUE(got.contains("ingress") && got.contains("egress"));
    EXPECT_EQ(got["from"], want["from"]);
    EXPECT_EQ(got["port"], want["port"]);
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, CorpusCli,
                         ::testing::Values("basics", "ports", "selectors", "kubectl_output",
                                           "hostnetwork_self", "ipblock_v6", "policy_types"));

TEST(EvalCli, SingleQueryFlags) {
  CliRun r = Exec("policy eval --cluster " + kData +
                  "/corpus/basics --from prod/client --to prod/web-0 --port 8080");
  ASSERT_EQ(r.code, 0) << r.err;
  nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["allowed"], true);
  EXPECT_EQ(j["ingress"]["allowed_by"][0]["policy"], "prod/web-allow");
  EXPECT_EQ(j["ingress"]["allowed_by"][0]["rule"], 0);
  r = Exec("policy eval --cluster " + kData +
           "/corpus/basics --from prod/client --to prod/web-0 --port 8080 --protocol UDP");
  ASSERT_EQ(r.code, 0);
  EXPECT_EQ(nlohmann::json::parse(r.out)["allowed"], false);
}

TEST(EvalCli, QueriesFromStdin) {
  CliRun r = Exec("policy eval --cluster " + kData + "/corpus/basics --queries -",
                  "{\"from\": \"8.8.8.8\", \"to\": \"prod/free\", \"port\": 80}\n");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["allowed"], true);
}

TEST(EvalCli, InvalidLinesKeepAlignmentAndFail) {
  CliRun r = Exec("policy eval --cluster " + kData + "/corpus/basics --queries " + kData +
                  "/cli/bad_queries.jsonl");
  EXPECT_EQ(r.code, 2);
  std::vector<std::string> out = Lines(r.out);
  ASSERT_EQ(out.size(), 6u);
  EXPECT_EQ(nlohmann::json::parse(out[0])["allowed"], true);
  for (int i = 1; i <= 4; ++i) {
    EXPECT_TRUE(nlohmann::json::parse(out[i]).contains("error")) << out[i];
  }
  EXPECT_EQ(nlohmann::json::parse(out[5])["allowed"], false);
  EXPECT_NE(r.err.find("no pod \"prod/nope\""), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("outside 1-65535"), std::string::npos) << r.err;
}

TEST(EvalCli, UsageErrorsExitNonZeroWithAMessage) {
  CliRun r = Exec("policy eval --cluster /nonexistent --from a/b --to c/d --port 1");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("/nonexistent"), std::string::npos);
  r = Exec("policy eval --cluster " + kData + "/corpus/basics");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--queries"), std::string::npos);
  r = Exec("policy eval --cluster " + kData +
           "/corpus/basics --from prod/client --to prod/web-0 --port 0");
  EXPECT_EQ(r.code, 2);
  r = Exec("policy eval --queries x");
  EXPECT_EQ(r.code, 2);  // --cluster is required
}

TEST(EvalCli, InvalidObjectsAreWarnedAboutAndSkipped) {
  CliRun r =
      Exec("policy eval --cluster " + kData + "/invalid --from 1.1.1.1 --to 2.2.2.2 --port 1");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.err.find("default/bad-cidr: spec.ingress[0].from[0].ipBlock.cidr"), std::string::npos)
      << r.err;
}

TEST(CheckCli, FindingsExitOneWithFixesThatClearThem) {
  const std::string cluster = kData + "/corpus/kubectl_output/cluster.yaml";
  CliRun r = Exec("check --cluster " + cluster + " --namespace shop -o json");
  ASSERT_EQ(r.code, 1) << r.err;
  nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["compatible"], false);
  ASSERT_FALSE(j["findings"].empty());
  std::set<std::string> kinds;
  for (const auto& f : j["findings"]) {
    kinds.insert(f["kind"].get<std::string>());
    EXPECT_EQ(f["severity"], "ERROR");
    EXPECT_FALSE(f["fix_yaml"].get<std::string>().empty());
  }
  EXPECT_TRUE(kinds.count("HBONE_INGRESS"));
  EXPECT_TRUE(kinds.count("PROBE_INGRESS"));
  // Apply every fix (as later manifests) and check again: compatible.
  const std::string fixes = ::testing::TempDir() + "/fixes.yaml";
  {
    std::ofstream f(fixes);
    for (const auto& fix : j["fixes"]) {
      f << "---\n" << fix["yaml"].get<std::string>();
    }
  }
  CliRun again =
      Exec("check --cluster " + cluster + " --cluster " + fixes + " --namespace shop -o json");
  EXPECT_EQ(again.code, 0) << again.out << again.err;
  EXPECT_EQ(nlohmann::json::parse(again.out)["compatible"], true);
}

TEST(CheckCli, FixesOutputIsOnlyTheYamlStreamOfTheJsonFixes) {
  const std::string cluster = kData + "/corpus/kubectl_output/cluster.yaml";
  CliRun json = Exec("check --cluster " + cluster + " --namespace shop -o json");
  CliRun fixes = Exec("check --cluster " + cluster + " --namespace shop -o fixes");
  ASSERT_EQ(fixes.code, 1) << fixes.err;
  std::string want;
  const nlohmann::json report = nlohmann::json::parse(json.out);
  for (const auto& fix : report["fixes"]) {
    want += "---\n" + fix["yaml"].get<std::string>();
  }
  ASSERT_FALSE(want.empty());
  EXPECT_EQ(fixes.out, want);
  EXPECT_NE(fixes.err.find("corrected NetworkPolicies on stdout: "), std::string::npos)
      << fixes.err;
  // Applied as a later --cluster, the stream clears every finding: exit 0, nothing on stdout.
  const std::string path = ::testing::TempDir() + "/fixes_stream.yaml";
  std::ofstream(path) << fixes.out;
  CliRun again = Exec("check --cluster " + cluster + " --cluster " + path + " -n shop -o fixes");
  EXPECT_EQ(again.code, 0) << again.out << again.err;
  EXPECT_EQ(again.out, "");
  EXPECT_NE(again.err.find("no NetworkPolicy needs fixing"), std::string::npos) << again.err;
  CliRun compatible = Exec("check --cluster " + kData + "/cli/compatible.yaml -n open -o fixes");
  EXPECT_EQ(compatible.code, 0) << compatible.err;
  EXPECT_EQ(compatible.out, "");
  CliRun error = Exec("check --cluster " + kData + "/cli/compatible.yaml --pod open/nope -o fixes");
  EXPECT_EQ(error.code, 2);
  EXPECT_EQ(error.out, "");
}

TEST(CheckCli, PodSelectorTextAndYamlOutputs) {
  const std::string cluster = kData + "/corpus/kubectl_output/cluster.yaml";
  CliRun r = Exec("check --cluster " + cluster + " --pod shop/backend-0 --probe-port 9001");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("PROBE_INGRESS shop/backend-0"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("kind: NetworkPolicy"), std::string::npos);
  r = Exec("check --cluster " + cluster + " -l app.kubernetes.io/name=frontend -o yaml");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("compatible: false"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("shop/frontend-7d9f8b-abcde"), std::string::npos);
}

TEST(CheckCli, EnrolledPodsAreHboneDestinations) {
  // backend-0's egress allows only UDP 53: enrolling it breaks nothing towards frontend.
  // prometheus (not isolated) reaching an enrolled backend-0 over HBONE is allowed (rule 1 has no
  // ports), so only the enrolled set changes what the frontend check reports.
  const std::string cluster = kData + "/corpus/kubectl_output/cluster.yaml";
  CliRun alone = Exec("check --cluster " + cluster + " --pod shop/frontend-7d9f8b-abcde -o json");
  CliRun with = Exec("check --cluster " + cluster +
                     " --pod shop/frontend-7d9f8b-abcde --enrolled monitoring/prometheus-0"
                     " --enrolled-namespace shop -o json");
  ASSERT_EQ(alone.code, 1) << alone.err;
  ASSERT_EQ(with.code, 1) << with.err;
  nlohmann::json a = nlohmann::json::parse(alone.out);
  nlohmann::json w = nlohmann::json::parse(with.out);
  EXPECT_EQ(a["subjects"].size(), 1u);
  EXPECT_EQ(w["subjects"].size(), 1u);  // --enrolled does not make a pod a subject
  EXPECT_EQ(
      Exec("check --cluster " + cluster + " --pod shop/frontend-7d9f8b-abcde --enrolled x/y").code,
      2);
}

TEST(CheckCli, CompatibleExitsZero) {
  CliRun r = Exec("check --cluster " + kData + "/cli/compatible.yaml --namespace open -o json");
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["compatible"], true);
  EXPECT_EQ(j["subjects"].size(), 1u);
}

TEST(CheckCli, ErrorsExitTwo) {
  EXPECT_EQ(Exec("check --cluster " + kData + "/cli/compatible.yaml --pod open/nope").code, 2);
  EXPECT_EQ(Exec("check --cluster " + kData + "/cli/compatible.yaml").code, 2);
  EXPECT_EQ(Exec("check --cluster " + kData + "/cli/compatible.yaml -n open -o xml").code, 2);
  EXPECT_EQ(Exec("check --cluster " + kData + "/cli/compatible.yaml -l 'a in (b'").code, 2);
  EXPECT_EQ(Exec("check --cluster /nonexistent -n open").code, 2);
}

// --cluster (files) and --agent (the running agent's snapshot) are the two sources; each takes
// only its own options, and neither is an error naming both.
TEST(CheckCli, ChecksFilesOrTheAgentNeverBothOrNeither) {
  CliRun neither = Exec("check -n open");
  EXPECT_EQ(neither.code, 2);
  EXPECT_NE(neither.err.find("--cluster FILE (manifests) or --agent"), std::string::npos)
      << neither.err;
  EXPECT_EQ(Exec("check --agent --cluster " + kData + "/cli/compatible.yaml x").code, 2);
  EXPECT_EQ(Exec("check --agent -n open x").code, 2);
  EXPECT_EQ(Exec("check --cluster " + kData + "/cli/compatible.yaml -n open some-uid").code, 2)
      << "a uid needs --agent";
  CliRun nothing = Exec("check --agent");
  EXPECT_EQ(nothing.code, 2);
  EXPECT_NE(nothing.err.find("uid of an enrolled pod or -f pod.yaml"), std::string::npos)
      << nothing.err;
  CliRun absent = Exec("check --agent some-uid --socket /nonexistent/probesnat.sock");
  EXPECT_EQ(absent.code, 2);
  EXPECT_NE(absent.err.find("cannot reach probesnatd on unix:/nonexistent/probesnat.sock"),
            std::string::npos)
      << absent.err;
}

}  // namespace

TEST(CheckCli, CyclicAliasIsAnInputErrorNotACrash) {
  for (const char* file : {"cyclic_flow.yaml", "cyclic_block.yaml"}) {
    const std::string path = kData + "/hostile/" + file;
    for (const std::string& args :
         {"check --pod a/b --cluster " + path,
          "policy eval --cluster " + path + " --from a/b --to c/d --port 80"}) {
      CliRun r = Exec(args);
      EXPECT_EQ(r.code, 2) << args;
      EXPECT_NE(r.err.find(path + ": line "), std::string::npos) << r.err;
      EXPECT_NE(r.err.find("*a refers to a node that contains it (a cycle)"), std::string::npos)
          << r.err;
    }
  }
}

namespace {

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A fresh directory standing for the agent's run directory.
std::string FreshRunDir(const std::string& name) {
  const std::string dir = ::testing::TempDir() + "/" + name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

TEST(UninstallCli, RecordsTheRequestOnceAndSaysNoAgentRuns) {
  const std::string dir = FreshRunDir("uninstall-run");
  CliRun r = Exec("uninstall --run-dir " + dir);
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  const std::string request = dir + "/uninstall-requested";
  EXPECT_NE(r.out.find("Recorded the uninstall request " + request), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("no running probesnatd holds " + dir + "/probesnatd.lock"),
            std::string::npos)
      << r.err;
  const std::string first = Slurp(request);
  EXPECT_EQ(first.rfind("requested at ", 0), 0u) << first;
  // Nothing half-written or temporary beside it.
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    ++files;
    EXPECT_EQ(e.path().filename(), "uninstall-requested");
  }
  EXPECT_EQ(files, 1);

  CliRun again = Exec("uninstall --run-dir " + dir);
  ASSERT_EQ(again.code, 0) << again.out << again.err;
  EXPECT_NE(again.out.find("already requested"), std::string::npos) << again.out;
  EXPECT_EQ(Slurp(request), first) << "an earlier request must not be replaced";
}

TEST(UninstallCli, AMissingRunDirectoryIsAnError) {
  const std::string dir = ::testing::TempDir() + "/no-such-run-dir";
  std::filesystem::remove_all(dir);
  CliRun r = Exec("uninstall --run-dir " + dir);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("no run directory " + dir), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir));
}

TEST(UninstallCli, HelpNamesTheDefaultRunDirectory) {
  CliRun r = Exec("uninstall --help");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("/run/probesnat"), std::string::npos) << r.out;
}

}  // namespace
