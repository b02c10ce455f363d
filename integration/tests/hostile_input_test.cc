// A hostile client against the real probesnatd: oversized and NUL-carrying fields, addresses that
// are no pod's, log forging, a request that tries to switch the policy check off, and Watch
// streams that never read.
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "grpcpp/client_context.h"
#include "integration/tests/test_support.h"

namespace probesnat::integration {
namespace {

using std::string_literals::operator""s;

class HostileInputTest : public AgentTest {
 protected:
  // Enroll must fail with INVALID_ARGUMENT naming `field`, change nothing in the kernel, and
  // leave the daemon serving. Returns the error message.
  std::string ExpectRefused(const probesnat::v1::Pod& pod, const std::string& field,
                            const std::string& detail = "") {
    grpc::Status st = Enroll(*stub_, pod, nullptr, absl::Seconds(20));
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << Describe(st);
    EXPECT_TRUE(absl::StartsWith(st.error_message(), field + ":")) << st.error_message();
    EXPECT_TRUE(absl::StrContains(st.error_message(), detail)) << st.error_message();
    EXPECT_LT(st.error_message().size(), 2048u) << "the error echoes the whole input";
    absl::StatusOr<bool> table = HasProbesnatTable(a().name());
    EXPECT_TRUE(table.ok() && !*table) << "a refused pod left a table in pod A";
    absl::StatusOr<int> health = HealthCheck(daemon_->channel(), absl::Seconds(5));
    EXPECT_TRUE(health.ok() && *health == 1) << health.status();
    EXPECT_TRUE(daemon_->Running());
    return st.error_message();
  }

  probesnat::v1::Pod PodAWithIps(const std::vector<std::string>& ips) const {
    probesnat::v1::Pod p = PodA();
    p.clear_ips();
    for (const std::string& ip : ips) {
      p.add_ips(ip);
    }
    return p;
  }

  long RssKib() const {
    absl::StatusOr<long> rss = daemon_->RssKib();
    EXPECT_TRUE(rss.ok()) << rss.status();
    return rss.value_or(0);
  }
};

TEST_F(HostileInputTest, OversizedFieldsAreRefusedAndTheDaemonStaysSmall) {
  const long before = RssKib();
  const std::string huge(10 << 20, 'a');

  probesnat::v1::Pod p = PodA();
  for (int i = 0; i < 100000; ++i) {
    (*p.mutable_labels())[absl::StrCat("k", i)] = "v";
  }
  ExpectRefused(p, "pod.labels", "at most 128 labels");

  p = PodA();
  (*p.mutable_labels())["app"] = huge;
  ExpectRefused(p, "pod.labels[\"app\"]", "at most 63 characters");

  p = PodA();
  for (int i = 0; i < 1000000; ++i) {
    p.add_container_ports()->set_port(1 + i % 65535);
  }
  ExpectRefused(p, "pod.container_ports", "at most 256 ports");

  p = PodA();
  for (int i = 0; i < 1000000; ++i) {
    p.add_probe_ports(1 + i % 65535);
  }
  ExpectRefused(p, "pod.probe_ports", "at most 128 ports");

  p = PodA();
  p.set_name(huge);
  ExpectRefused(p, "pod.name", "at most 253");

  p = PodA();
  p.set_netns_path("/run/netns/" + huge);
  ExpectRefused(p, "pod.netns_path", "PATH_MAX");

  // A Sync with more pods than one node runs.
  std::vector<probesnat::v1::Pod> many;
  for (int i = 0; i < 1025; ++i) {
    many.push_back(MakePod(absl::StrCat("uid-", i),
                           {absl::StrCat("10.200.", i / 250, ".", i % 250 + 1)}, a().path(),
                           absl::StrCat("p", i)));
  }
  grpc::Status st = Sync(*stub_, many);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << Describe(st);
  EXPECT_TRUE(absl::StartsWith(st.error_message(), "pods: at most 1024")) << st.error_message();

  // The largest pod the limits allow is still enrolled.
  p = PodA();
  for (int i = 0; i < 127; ++i) {
    (*p.mutable_labels())[absl::StrCat("example.com/", std::string(50, 'k'), i)] =
        std::string(63, 'v');
  }
  MustEnroll(p);
  EXPECT_TRUE(daemon_->Running());
  // Parsing the 1M-port requests (gRPC parses before validation can refuse) leaves up to ~85 MB
  // with the allocator afterwards; keeping the refused pods took over 200 MB.
  EXPECT_LT(RssKib() - before, 128 * 1024) << "RSS grew from " << before << " KiB";
  // The log holds a bounded echo of each refused request, not megabytes.
  EXPECT_LT(daemon_->Log().size(), 64u * 1024) << "the log echoes whole fields";
}

TEST_F(HostileInputTest, NulSuffixedAddressesAndPathsAreRefused) {
  ExpectRefused(PodAWithIps({a().v4 + "\0"s, a().v6}), "pod.ips[0]", "not an IP address");
  ExpectRefused(PodAWithIps({a().v4, a().v6 + "\0junk"s}), "pod.ips[1]", "not an IP address");
  probesnat::v1::Pod p = PodA();
  p.set_netns_path(a().path() + "\0junk"s);
  ExpectRefused(p, "pod.netns_path", "NUL");
  p = PodA();
  p.set_uid(std::string(kUidA) + "\0"s);
  ExpectRefused(p, "pod.uid");
  MustEnroll(PodA());  // the same pod without the NULs is fine
}

TEST_F(HostileInputTest, AddressesThatAreNoPodsAreRefused) {
  struct Case {
    std::string ip;
    std::string detail;
  };
  for (const Case& c : std::vector<Case>{
           {"240.0.0.1", "reserved"},
           {"255.255.255.255", "broadcast"},
           {"127.0.0.1", "loopback"},
           {"0.0.0.0", "unspecified"},
           {"224.0.0.1", "multicast"},
           {"169.254.1.1", "link-local"},
           {kProbeV4, "link-local"},
           {"::169.254.7.127", "IPv4-compatible"},
           {"::ffff:169.254.7.127", "IPv4-mapped"},
           {"64:ff9b::a9fe:77f", "NAT64"},
           {"::1", "loopback"},
           {"::", "unspecified"},
           {"ff02::1", "multicast"},
           {"fe80::1", "link-local"},
           {kProbeV6, "probe SNAT address"},
           {"FD16:9254:7127:1337:FFFF:FFFF:FFFF:FFFF", "probe SNAT address"},
           {"fd16:9254:7127:1337::10", "inside the probe SNAT address's /64"},
       }) {
    SCOPED_TRACE(c.ip);
    ExpectRefused(PodAWithIps({c.ip}), "pod.ips[0]", c.detail);
  }
}

TEST_F(HostileInputTest, TheNodesOwnAddressesAreRefused) {
  std::string message = ExpectRefused(PodAWithIps({kNodeV4}), "pod.ips[0]",
                                      absl::StrCat(kNodeV4, " is an address of the node"));
  EXPECT_TRUE(absl::StrContains(message, "(interface ")) << message;
  ExpectRefused(PodAWithIps({kNodeOutsideV4}), "pod.ips[0]", "is an address of the node");
  ExpectRefused(PodAWithIps({a().v4, kNodeV6}), "pod.ips[1]", "is an address of the node");
}

TEST_F(HostileInputTest, CgnatAddressesAreAccepted) {
  probesnat::v1::EnrollResponse resp;
  grpc::Status st = Enroll(*stub_, PodAWithIps({"100.64.0.1"}), &resp);
  ASSERT_TRUE(st.ok()) << Describe(st);
  EXPECT_EQ(resp.status().phase(), probesnat::v1::POD_PHASE_APPLIED) << resp.DebugString();
  EXPECT_TRUE(ProbesnatSetElements(topo_->node().name()).count("100.64.0.1"));
}

TEST_F(HostileInputTest, UpperCaseAddressesAreOneAddressWithTheirLowerCaseForm) {
  std::string upper = a().v6;
  for (char& c : upper) {
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  probesnat::v1::EnrollResponse resp;
  ASSERT_TRUE(Enroll(*stub_, PodAWithIps({a().v4, upper}), &resp).ok());
  EXPECT_EQ(resp.status().pod().ips(1), a().v6);
  // Pod B claiming A's address in the other spelling conflicts.
  probesnat::v1::Pod b = PodB();
  b.set_ips(1, a().v6);
  grpc::Status st = Enroll(*stub_, b);
  EXPECT_FALSE(st.ok()) << "pod B enrolled with pod A's IPv6 address";
}

TEST_F(HostileInputTest, ClientTextCannotForgeLogLines) {
  const std::string forged = "2030-01-01T00:00:00.000000Z info FORGED";
  probesnat::v1::Pod p = PodA();
  p.set_netns_path("/run/netns/x\n" + forged);
  ExpectRefused(p, "pod.netns_path", "control character");
  p = PodA();
  p.set_uid("u\n" + forged);
  ExpectRefused(p, "pod.uid");
  p = PodA();
  (*p.mutable_labels())["app"] = "x\n" + forged;
  ExpectRefused(p, "pod.labels[\"app\"]");
  p = PodA();
  p.set_name("x\r\n" + forged);
  ExpectRefused(p, "pod.name");
  grpc::Status st = Unenroll(*stub_, "u\n" + forged);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  const std::string log = daemon_->Log();
  int refusals = 0;
  for (absl::string_view line : absl::StrSplit(log, '\n')) {
    EXPECT_FALSE(absl::StartsWith(line, "2030-01-01")) << "forged log line: " << line;
    EXPECT_FALSE(absl::StrContains(line, "\r")) << "a raw carriage return in: " << line;
    refusals += absl::StrContains(line, "result=INVALID_ARGUMENT");
  }
  EXPECT_GE(refusals, 5) << log;
}

// pod-a's namespace and a policy that admits only pod-b on 8080: enrolling pod-a has findings.
constexpr char kCluster[] =
    "apiVersion: v1\n"
    "kind: List\n"
    "items:\n"
    "- apiVersion: v1\n"
    "  kind: Namespace\n"
    "  metadata: {name: default, labels: {kubernetes.io/metadata.name: default}}\n"
    "- apiVersion: v1\n"
    "  kind: Pod\n"
    "  metadata: {name: pod-a, namespace: default, labels: {app: pod-a}}\n"
    "  spec: {containers: [{name: app, ports: [{name: http, containerPort: 8080}]}]}\n"
    "  status: {phase: Running}\n";
constexpr char kRestrictivePolicy[] =
    "apiVersion: networking.k8s.io/v1\n"
    "kind: NetworkPolicy\n"
    "metadata: {name: pod-a-from-b, namespace: default}\n"
    "spec:\n"
    "  podSelector: {matchLabels: {app: pod-a}}\n"
    "  policyTypes: [Ingress]\n"
    "  ingress:\n"
    "  - from: [{podSelector: {matchLabels: {app: pod-b}}}]\n"
    "    ports: [{port: 8080, protocol: TCP}]\n";

TEST_F(HostileInputTest, ARequestCannotLoosenTheConfiguredPolicyMode) {
  StartDaemon({"--policy-mode", "enforce"});
  {
    auto policy = probesnat::v1::Policy::NewStub(daemon_->channel());
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    probesnat::v1::ReplacePolicySnapshotRequest req;
    req.add_manifests(kCluster);
    req.add_manifests(kRestrictivePolicy);
    probesnat::v1::ReplacePolicySnapshotResponse resp;
    grpc::Status st = policy->ReplaceSnapshot(&ctx, req, &resp);
    ASSERT_TRUE(st.ok()) << Describe(st);
  }
  for (probesnat::v1::PolicyMode mode :
       {probesnat::v1::POLICY_MODE_OFF, probesnat::v1::POLICY_MODE_WARN,
        probesnat::v1::POLICY_MODE_UNSPECIFIED}) {
    SCOPED_TRACE(probesnat::v1::PolicyMode_Name(mode));
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    probesnat::v1::EnrollRequest req;
    *req.mutable_pod() = PodA();
    (*req.mutable_pod()->mutable_labels())["app"] = "pod-a";
    req.set_policy_mode(mode);
    probesnat::v1::EnrollResponse resp;
    grpc::Status st = stub_->Enroll(&ctx, req, &resp);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << Describe(st);
    EXPECT_TRUE(absl::StrContains(st.error_message(), "pod-a-from-b")) << st.error_message();
    if (mode != probesnat::v1::POLICY_MODE_UNSPECIFIED) {
      EXPECT_TRUE(absl::StrContains(st.error_message(), "may only tighten")) << st.error_message();
    }
    absl::StatusOr<bool> table = HasProbesnatTable(a().name());
    EXPECT_TRUE(table.ok() && !*table) << "the pod was enrolled despite --policy-mode enforce";
  }
  EXPECT_TRUE(absl::StrContains(daemon_->Log(), "asked for policy mode off"));
}

TEST_F(HostileInputTest, WatchStreamsThatNeverReadHoldBoundedMemory) {
  const long before = RssKib();
  struct Stream {
    grpc::ClientContext ctx;
    std::unique_ptr<grpc::ClientReader<probesnat::v1::Event>> reader;
  };
  std::vector<std::unique_ptr<Stream>> streams;
  for (int i = 0; i < 8; ++i) {
    auto s = std::make_unique<Stream>();
    // Bounds the drain below if a stream never ends.
    s->ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
    s->reader = stub_->Watch(&s->ctx, probesnat::v1::WatchRequest());
    streams.push_back(std::move(s));
  }
  // The largest pod the limits allow (~50 KB: 128 labels with 317-byte keys and 63-byte values),
  // changed on every enroll so that each one is an event.
  const std::string prefix = absl::StrCat(std::string(63, 'a'), ".", std::string(63, 'b'), ".",
                                          std::string(63, 'c'), ".", std::string(61, 'd'));
  probesnat::v1::Pod big = PodA();
  big.clear_labels();
  for (int i = 0; i < 127; ++i) {
    std::string name = absl::StrCat(i, std::string(60, 'n'));
    (*big.mutable_labels())[absl::StrCat(prefix, "/", name.substr(0, 63))] = std::string(63, 'v');
  }
  long peak = 0;
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  int enrolls = 0;
  for (; enrolls < 400 && absl::Now() < deadline; ++enrolls) {
    (*big.mutable_labels())["generation"] = absl::StrCat("g", enrolls);
    grpc::Status st = Enroll(*stub_, big);
    ASSERT_TRUE(st.ok()) << "enroll " << enrolls << ": " << Describe(st);
    if (enrolls % 25 == 0) {
      peak = std::max(peak, RssKib());
    }
  }
  peak = std::max(peak, RssKib());
  EXPECT_GE(enrolls, 200) << "too slow to fill the queues";
  EXPECT_TRUE(daemon_->Running());
  absl::StatusOr<int> health = HealthCheck(daemon_->channel(), absl::Seconds(5));
  EXPECT_TRUE(health.ok() && *health == 1) << health.status();
  // 8 streams x 400 events x ~50 KB would be ~150 MB of serialized events alone.
  EXPECT_LT(peak - before, 100 * 1024) << "RSS grew from " << before << " KiB to " << peak;
  // Each unread stream ended with a clear overflow.
  for (auto& s : streams) {
    probesnat::v1::Event event;
    while (s->reader->Read(&event)) {
    }
    grpc::Status st = s->reader->Finish();
    EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << Describe(st);
  }
}

}  // namespace
}  // namespace probesnat::integration
