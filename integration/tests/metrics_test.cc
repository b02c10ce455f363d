// probesnatd's /metrics scraped by a real Prometheus server (Debian's prometheus), both in the
// node namespace: after a known sequence of enrolls, failures, an unenroll, a drift repair and a
// restart, the series Prometheus stored have the expected values (queried through /api/v1/query).
#include <algorithm>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "grpcpp/client_context.h"
#include "integration/harness/http_get.h"
#include "integration/harness/prometheus.h"
#include "integration/tests/test_support.h"

namespace probesnat::integration {
namespace {

constexpr uint16_t kMetricsPort = 9464;
constexpr uint16_t kPrometheusPort = 9090;
constexpr char kUidC[] = "c0ffee00-1c2d-4e8f-9a01-5b6c7d8e9f0a";

class MetricsTest : public AgentBinaryTest {
 protected:
  void SetUp() override {
    AgentBinaryTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) {
      return;
    }
    if (::access(PrometheusPath().c_str(), X_OK) != 0) {
      GTEST_FAIL() << "no prometheus at " << PrometheusPath()
                   << " (scripts/install-deps.sh installs Debian's prometheus package)";
    }
  }
  void TearDown() override {
    if (HasFailure()) {
      if (daemon_ != nullptr) {
        std::cerr << "--- probesnatd log ---\n" << daemon_->Log() << "---\n";
      }
      if (prometheus_ != nullptr) {
        std::cerr << "--- prometheus log ---\n" << prometheus_->Log() << "---\n";
      }
    }
    prometheus_.reset();
    daemon_.reset();
  }

  void StartAgent() {
    daemon_.reset();
    Daemon::Options o = DaemonOptions({"--metrics-listen", absl::StrCat("127.0.0.1:", kMetricsPort)});
    o.args.erase(std::find(o.args.begin(), o.args.end(), "--resync-interval"), o.args.end() - 2);
    o.args.insert(o.args.end(), {"--resync-interval", "200ms"});
    absl::StatusOr<std::unique_ptr<Daemon>> d = Daemon::Start(o);
    ASSERT_TRUE(d.ok()) << d.status();
    daemon_ = std::move(*d);
    stub_ = daemon_->Enrollment();
  }

  HttpReply Get(const std::string& path) {
    absl::StatusOr<HttpReply> r = HttpGet(fd_node(), Endpoint{"127.0.0.1", kMetricsPort}, path);
    EXPECT_TRUE(r.ok()) << path << ": " << r.status();
    return r.ok() ? *r : HttpReply{};
  }

  // Polls `promql` until it has the value `want` (one series), at most `timeout`.
  void ExpectEventually(const std::string& promql, double want,
                        absl::Duration timeout = absl::Seconds(20)) {
    const absl::Time deadline = absl::Now() + timeout;
    absl::StatusOr<double> got = absl::UnknownError("not queried");
    while (absl::Now() < deadline) {
      got = prometheus_->QueryOne(promql);
      if (got.ok() && *got == want) {
        return;
      }
      absl::SleepFor(absl::Milliseconds(200));
    }
    ADD_FAILURE() << promql << ": want " << want << ", got "
                  << (got.ok() ? absl::StrCat(*got) : got.status().ToString());
  }

  std::unique_ptr<Daemon> daemon_;
  std::unique_ptr<probesnat::v1::Enrollment::Stub> stub_;
  std::unique_ptr<PrometheusServer> prometheus_;
};

TEST_F(MetricsTest, PrometheusScrapesTheAgentAndSeesEnrollsFailuresRepairsAndRestarts) {
  ASSERT_NO_FATAL_FAILURE(StartAgent());
  PrometheusServer::Options po;
  po.netns = topo_->node().name();
  po.port = kPrometheusPort;
  po.targets = {absl::StrCat("127.0.0.1:", kMetricsPort)};
  po.scrape_interval = absl::Seconds(1);
  absl::StatusOr<std::unique_ptr<PrometheusServer>> p = PrometheusServer::Start(po);
  ASSERT_TRUE(p.ok()) << p.status();
  prometheus_ = std::move(*p);

  const v1::Pod pod_a = MakePod(kUidA, {a().v4, a().v6}, a().path(), "pod-a");
  const v1::Pod pod_b = MakePod(kUidB, {b().v4, b().v6}, b().path(), "pod-b");
  ASSERT_TRUE(Enroll(*stub_, pod_a).ok());
  ASSERT_TRUE(Enroll(*stub_, pod_b).ok());
  v1::Pod invalid = pod_b;
  invalid.set_uid("not a uid!");
  EXPECT_EQ(Enroll(*stub_, invalid).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  // Pod A's address under another uid: refused, nothing written.
  v1::Pod conflicting = MakePod(kUidC, {a().v4}, b().path(), "pod-c");
  EXPECT_EQ(Enroll(*stub_, conflicting).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  ASSERT_TRUE(Unenroll(*stub_, kUidB).ok());
  // Someone deletes pod A's table; the drift check (every 200 ms) puts it back.
  PSNT_ASSERT_OK(RunIn(a().name(), "nft delete table inet probesnat"));
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (absl::Now() < deadline && !HasProbesnatTable(a().name()).value_or(false)) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  ASSERT_TRUE(HasProbesnatTable(a().name()).value_or(false)) << "the drift check did not repair";

  // The endpoint itself.
  HttpReply metrics = Get("/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_EQ(metrics.headers["content-type"], "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_TRUE(absl::StrContains(metrics.body, "# TYPE probesnat_enroll_duration_seconds histogram"));
  EXPECT_EQ(Get("/healthz").status, 200);
  EXPECT_EQ(Get("/readyz").status, 200);
  EXPECT_EQ(Get("/nothing").status, 404);

  // What Prometheus stored.
  ExpectEventually("up{job=\"probesnat\"}", 1);
  ExpectEventually("probesnat_drift_repairs_total{object=\"pod\"}", 1);
  ExpectEventually("probesnat_pods{phase=\"applied\"}", 1);
  ExpectEventually("probesnat_pods{phase=\"failed\"}", 0);
  ExpectEventually(
      "probesnat_enroll_duration_seconds_count{operation=\"enroll\",result=\"ok\"}", 2);
  ExpectEventually(
      "probesnat_enroll_duration_seconds_count{operation=\"enroll\",result=\"invalid_argument\"}",
      1);
  ExpectEventually(
      "probesnat_enroll_duration_seconds_count{operation=\"enroll\","
      "result=\"failed_precondition\"}",
      1);
  ExpectEventually(
      "probesnat_enroll_duration_seconds_count{operation=\"unenroll\",result=\"ok\"}", 1);
  ExpectEventually("probesnat_enroll_failures_total{reason=\"invalid_argument\"}", 1);
  ExpectEventually("probesnat_enroll_failures_total{reason=\"conflict\"}", 1);
  ExpectEventually("probesnat_enroll_failures_total{reason=\"kernel\"}", 0);
  // Applies of A and B, removal of B, the repair of A.
  ExpectEventually(
      "probesnat_kernel_transaction_duration_seconds_count{netns_kind=\"pod\","
      "backend=\"nftables\"}",
      4);
  ExpectEventually("probesnat_build_info{backend=\"nftables\",version=\"0.1.0\"}", 1);
  ExpectEventually("probesnat_state_write_failures_total", 0);
  // A and B recorded before their rules, B erased after its removal (at least).
  absl::StatusOr<double> state_writes =
      prometheus_->QueryOne("probesnat_state_write_duration_seconds_count");
  ASSERT_TRUE(state_writes.ok()) << state_writes.status();
  EXPECT_GE(*state_writes, 3);
  ExpectEventually("probesnat_restarted", 0);
  // No snapshot loaded: the applied pod was enrolled unchecked, which is all there is to report.
  ExpectEventually("sum(probesnat_policy_findings{kind!=\"not_checked\"})", 0);
  ExpectEventually("probesnat_policy_findings{kind=\"not_checked\",severity=\"warning\"}", 1);
  ExpectEventually("probesnat_policy_snapshot_loaded", 0);
  // Every enroll took between 0 and 5 s, so the quantile lies in the buckets' range.
  absl::StatusOr<double> p99 = prometheus_->QueryOne(
      "histogram_quantile(0.99, sum by (le) "
      "(probesnat_enroll_duration_seconds_bucket{operation=\"enroll\",result=\"ok\"}))");
  ASSERT_TRUE(p99.ok()) << p99.status();
  EXPECT_GT(*p99, 0);
  EXPECT_LE(*p99, 5);
  absl::StatusOr<double> host_txns = prometheus_->QueryOne(
      "probesnat_kernel_transaction_duration_seconds_count{netns_kind=\"host\"}");
  ASSERT_TRUE(host_txns.ok()) << host_txns.status();
  EXPECT_GE(*host_txns, 4) << "host table, A's and B's addresses added, B's removed";

  // A restart re-adopts the kernel state: pod A's two addresses are still in the node's set.
  ASSERT_NO_FATAL_FAILURE(StartAgent());
  ExpectEventually("probesnat_restarted", 1);
  ExpectEventually("probesnat_readopted_host_members", 2);
  ExpectEventually("changes(probesnat_start_time_seconds[5m])", 1);
  ExpectEventually("probesnat_pods{phase=\"applied\"}", 0);  // not re-enrolled yet
}

// deploy/monitoring/grafana-dashboard.json against the real agent and a real Prometheus: every
// panel's query names only series the agent's /metrics serves, and Prometheus runs it and returns
// data once the agent has enrolled, refused and loaded a policy snapshot.
TEST_F(MetricsTest, EveryDashboardQueryNamesServedSeriesAndReturnsData) {
  std::ifstream in(GRAFANA_DASHBOARD);
  std::stringstream text;
  text << in.rdbuf();
  nlohmann::json dashboard = nlohmann::json::parse(text.str(), nullptr, false);
  ASSERT_FALSE(dashboard.is_discarded()) << GRAFANA_DASHBOARD << " is not JSON";
  std::vector<std::string> queries;
  for (const auto& panel : dashboard["panels"]) {
    for (const auto& target : panel["targets"]) {
      queries.push_back(target["expr"].get<std::string>());
    }
  }
  ASSERT_GE(queries.size(), 5u);

  ASSERT_NO_FATAL_FAILURE(StartAgent());
  PrometheusServer::Options po;
  po.netns = topo_->node().name();
  po.port = kPrometheusPort;
  po.targets = {absl::StrCat("127.0.0.1:", kMetricsPort)};
  po.scrape_interval = absl::Seconds(1);
  absl::StatusOr<std::unique_ptr<PrometheusServer>> p = PrometheusServer::Start(po);
  ASSERT_TRUE(p.ok()) << p.status();
  prometheus_ = std::move(*p);
  ASSERT_TRUE(Enroll(*stub_, MakePod(kUidA, {a().v4, a().v6}, a().path(), "pod-a")).ok());
  v1::Pod invalid = MakePod(kUidB, {b().v4}, "/tmp/not-a-netns", "pod-b");
  EXPECT_EQ(Enroll(*stub_, invalid).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  {
    auto policy = v1::Policy::NewStub(daemon_->channel());
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    v1::ReplacePolicySnapshotRequest req;
    req.add_manifests(
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: default, labels: "
        "{kubernetes.io/metadata.name: default}}\n");
    v1::ReplacePolicySnapshotResponse resp;
    ASSERT_TRUE(policy->ReplaceSnapshot(&ctx, req, &resp).ok());
  }

  const std::string body = Get("/metrics").body;
  const std::regex metric_name("\\bprobesnat_[a-z0-9_]+");
  // The README's metric table names what the agent serves, and only that.
  std::ifstream readme_in(README_PATH);
  std::stringstream readme;
  readme << readme_in.rdbuf();
  const std::string readme_text = readme.str();
  const std::regex documented("`(probesnat_[a-z0-9_]+)`");
  int documented_count = 0;
  for (auto it = std::sregex_iterator(readme_text.begin(), readme_text.end(), documented);
       it != std::sregex_iterator(); ++it) {
    ++documented_count;
    EXPECT_TRUE(absl::StrContains(body, absl::StrCat("# TYPE ", (*it)[1].str(), " ")))
        << "README names " << (*it)[1] << ", which the agent does not serve";
  }
  EXPECT_GE(documented_count, 10);
  for (const std::string& query : queries) {
    SCOPED_TRACE(query);
    std::set<std::string> names;
    for (auto it = std::sregex_iterator(query.begin(), query.end(), metric_name);
         it != std::sregex_iterator(); ++it) {
      names.insert(it->str());
    }
    EXPECT_FALSE(names.empty());
    for (const std::string& name : names) {
      EXPECT_TRUE(absl::StrContains(body, "\n" + name + "{") ||
                  absl::StrContains(body, "\n" + name + " "))
          << name << " is not a series of the agent's /metrics:\n"
          << body;
    }
    // What Grafana would send for "all nodes" and its rate interval.
    const std::string promql =
        absl::StrReplaceAll(query, {{"$instance", ".*"}, {"$__rate_interval", "1m"}});
    const absl::Time deadline = absl::Now() + absl::Seconds(20);
    absl::StatusOr<std::vector<PrometheusServer::Sample>> got = absl::UnknownError("not queried");
    while (absl::Now() < deadline) {
      got = prometheus_->Query(promql);
      if (got.ok() && !got->empty()) {
        break;
      }
      absl::SleepFor(absl::Milliseconds(250));
    }
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_FALSE(got->empty()) << promql << " returned no series";
  }
}

}  // namespace
}  // namespace probesnat::integration
