// Hostile manifests sent to the real probesnatd over Policy.ReplaceSnapshot: an alias cycle, an
// alias bomb, a 15 MB flow sequence and deep nesting are refused with INVALID_ARGUMENT (the text
// is not a manifest this agent accepts), fast and without memory growth; the daemon stays up,
// keeps its previous snapshot, and Enroll and List still work.
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/client_context.h"
#include "integration/harness/enroll_client.h"
#include "integration/tests/test_support.h"

namespace probesnat::integration {
namespace {

std::string BillionLaughs() {
  std::string text = "l0: &l0 {kind: Pod, metadata: {name: lol, namespace: lol}}\n";
  for (int i = 1; i <= 9; ++i) {
    absl::StrAppend(&text, "l", i, ": &l", i, " {kind: List, items: [");
    for (int j = 0; j < 10; ++j) {
      absl::StrAppend(&text, j ? ", " : "", "*l", i - 1);
    }
    absl::StrAppend(&text, "]}\n");
  }
  return text + "kind: List\nitems: [*l9]\n";
}

std::string FlowSequence(size_t bytes) {
  std::string text = "[";
  text.reserve(bytes + 2);
  while (text.size() < bytes) {
    text += "0,";
  }
  return text + "0]";
}

class HostileManifestTest : public AgentTest {
 protected:
  grpc::Status Replace(const std::string& manifest,
                       probesnat::v1::ReplacePolicySnapshotResponse* resp) {
    auto stub = probesnat::v1::Policy::NewStub(daemon_->channel());
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
    probesnat::v1::ReplacePolicySnapshotRequest req;
    req.add_manifests(manifest);
    return stub->ReplaceSnapshot(&ctx, req, resp);
  }

  // The daemon is alive and serves Enroll and List.
  void ExpectServing(const probesnat::v1::Pod& pod) {
    ASSERT_TRUE(daemon_->Running()) << daemon_->Log();
    MustEnroll(pod);
    probesnat::v1::ListResponse list;
    grpc::Status st = List(*stub_, &list);
    ASSERT_TRUE(st.ok()) << Describe(st);
    bool found = false;
    for (const probesnat::v1::PodStatus& s : list.pods()) {
      found |= s.pod().uid() == pod.uid();
    }
    EXPECT_TRUE(found) << list.DebugString();
  }
};

TEST_F(HostileManifestTest, EachIsRefusedAndTheDaemonKeepsServing) {
  struct Case {
    const char* name;
    std::string text;
    const char* message;
  };
  const std::vector<Case> cases = {
      {"cyclic flow alias", "&a {kind: List, items: [*a]}\n", "refers to a node that contains it"},
      {"cyclic block alias", "--- &a\nkind: List\nitems:\n- *a\n",
       "refers to a node that contains it"},
      {"billion laughs", BillionLaughs(), "YAML nodes"},
      {"deep nesting", std::string(5000, '[') + std::string(5000, ']'), "manifests[0]: line 1"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    absl::Time start = absl::Now();
    probesnat::v1::ReplacePolicySnapshotResponse resp;
    grpc::Status st = Replace(c.text, &resp);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << Describe(st);
    EXPECT_TRUE(absl::StrContains(st.error_message(), c.message)) << st.error_message();
    EXPECT_TRUE(absl::StrContains(st.error_message(), "manifests[0]")) << st.error_message();
    EXPECT_LT(absl::Now() - start, absl::Seconds(10));
    ASSERT_TRUE(daemon_->Running()) << daemon_->Log();
  }
  ExpectServing(PodA());
}

TEST_F(HostileManifestTest, AFifteenMegabyteFlowSequenceIsRefusedWithinBoundedMemory) {
  absl::StatusOr<long> before = daemon_->RssKib();
  ASSERT_TRUE(before.ok()) << before.status();
  probesnat::v1::ReplacePolicySnapshotResponse resp;
  grpc::Status st = Replace(FlowSequence(15u << 20), &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << Describe(st);
  EXPECT_TRUE(absl::StrContains(st.error_message(), "YAML nodes")) << st.error_message();
  ASSERT_TRUE(daemon_->Running()) << daemon_->Log();
  absl::StatusOr<long> after = daemon_->RssKib();
  ASSERT_TRUE(after.ok()) << after.status();
  // The request itself is 15 MB and is held a few times (gRPC buffer, message, copy for the
  // parser); a node graph of it would be gigabytes.
  EXPECT_LT(*after, 300 * 1024) << "RSS before " << *before << " KiB";
  ExpectServing(PodB());
}

}  // namespace
}  // namespace probesnat::integration
