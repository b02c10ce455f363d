// probesnatd's gRPC surface over a real unix socket with the generated client stub; the kernel is
// the FakeBackend, network namespace paths are real (/proc/<pid>/task/<tid>/ns/net of helper
// threads), so validation runs exactly as in production.
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <functional>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "agent/daemon/daemon.h"
#include "agent/daemon/pod_validation.h"
#include "agent/daemon/testing/fake_backend.h"
#include "agent/daemon/testing/log_capture.h"
#include "gmock/gmock.h"
#include "google/protobuf/unknown_field_set.h"
#include "google/protobuf/wrappers.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/impl/codegen/client_unary_call.h"
#include "grpcpp/impl/codegen/rpc_method.h"
#include "grpcpp/impl/codegen/sync_stream.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/byte_buffer.h"
#include "gtest/gtest.h"
#include "probesnat/v1/probesnat.grpc.pb.h"

namespace probesnat::daemon {
namespace {

using testing::FakeBackend;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

// Threads whose /proc/<pid>/task/<tid>/ns/net paths serve as distinct, real namespace paths.
class NamespacePaths {
 public:
  explicit NamespacePaths(int n) {
    for (int i = 0; i < n; ++i) {
      std::promise<pid_t> tid;
      std::future<pid_t> got = tid.get_future();
      threads_.emplace_back([this, t = std::move(tid)]() mutable {
        t.set_value(static_cast<pid_t>(::syscall(SYS_gettid)));
        done_.wait();
      });
      paths_.push_back(absl::StrCat("/proc/", ::getpid(), "/task/", got.get(), "/ns/net"));
    }
  }
  ~NamespacePaths() {
    release_.set_value();
    for (auto& t : threads_) {
      t.join();
    }
  }
  const std::string& operator[](size_t i) const { return paths_[i]; }

 private:
  std::promise<void> release_;
  std::shared_future<void> done_ = release_.get_future().share();
  std::vector<std::thread> threads_;
  std::vector<std::string> paths_;
};

class ScriptedGate : public agent::PolicyGate {
 public:
  absl::StatusOr<std::vector<agent::Finding>> Check(const agent::PodSpec& pod) const override {
    return findings;
  }
  agent::PolicySnapshotInfo Snapshot() const override {
    agent::PolicySnapshotInfo info;
    info.loaded = loaded.load();
    return info;
  }
  std::atomic<bool> loaded = true;
  std::vector<agent::Finding> findings;
};

// Stands in for the policy engineer's service: shows that extra services are served.
class StubPolicyService final : public v1::Policy::Service {};

constexpr char kTcpToken[] = "unit-test-token-0123456789";

class GrpcServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/probesnatd-grpc-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    for (int i = 0; i < 4; ++i) {
      fake_.AddNamespace(ns_[i]);
    }
    StartDaemon();
  }

  void TearDown() override {
    daemon_.reset();
    ::rmdir((dir_ + "/run").c_str());
    ::rmdir(dir_.c_str());
  }

  void StartDaemon(PolicyMode mode = PolicyMode::kWarn) {
    daemon_.reset();
    config_.socket_path = dir_ + "/run/probesnat.sock";
    config_.allowed_netns_roots = {"/proc"};
    config_.policy_mode = mode;
    config_.resync_interval = absl::ZeroDuration();
    config_.listen_tcp = "127.0.0.1:0";
    config_.tcp_bearer_token = kTcpToken;
    DaemonDeps deps;
    deps.backend = &fake_;
    deps.policy_gate = &gate_;
    deps.extra_services = {&policy_service_};
    absl::StatusOr<std::unique_ptr<Daemon>> d = Daemon::Start(config_, deps);
    ASSERT_TRUE(d.ok()) << d.status();
    daemon_ = *std::move(d);
    channel_ =
        grpc::CreateChannel("unix:" + config_.socket_path, grpc::InsecureChannelCredentials());
    stub_ = v1::Enrollment::NewStub(channel_);
  }

  v1::Pod MakePod(const std::string& uid, const std::string& ip, int ns) {
    v1::Pod p;
    p.set_uid(uid);
    p.set_namespace_("shop");
    p.set_name("web-" + uid);
    p.add_ips(ip);
    p.set_netns_path(ns_[ns]);
    p.add_probe_ports(8080);
    return p;
  }

  grpc::Status Enroll(const v1::Pod& pod, v1::EnrollResponse* resp,
                      v1::PolicyMode mode = v1::POLICY_MODE_UNSPECIFIED) {
    grpc::ClientContext ctx;
    v1::EnrollRequest req;
    *req.mutable_pod() = pod;
    req.set_policy_mode(mode);
    return stub_->Enroll(&ctx, req, resp);
  }

  grpc::Status Get(const std::string& uid, v1::PodStatus* resp) {
    grpc::ClientContext ctx;
    v1::GetRequest req;
    req.set_uid(uid);
    return stub_->Get(&ctx, req, resp);
  }

  // grpc.health.v1.Health/Check for `service`: HealthCheckRequest{string service = 1} has the wire
  // format of StringValue, HealthCheckResponse{ServingStatus status = 1} that of Int32Value.
  int HealthStatus(const std::shared_ptr<grpc::Channel>& channel, const std::string& service = "",
                   const std::string& token = "") {
    grpc::ClientContext ctx;
    if (!token.empty()) {
      ctx.AddMetadata("authorization", "Bearer " + token);
    }
    google::protobuf::StringValue req;
    req.set_value(service);
    google::protobuf::Int32Value resp;
    grpc::internal::RpcMethod method("/grpc.health.v1.Health/Check",
                                     grpc::internal::RpcMethod::NORMAL_RPC);
    grpc::Status st = grpc::internal::BlockingUnaryCall(channel.get(), method, &ctx, req, &resp);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return resp.value();
  }

  std::string dir_;
  NamespacePaths ns_{4};
  FakeBackend fake_;
  ScriptedGate gate_;
  StubPolicyService policy_service_;
  DaemonConfig config_;
  std::unique_ptr<Daemon> daemon_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Enrollment::Stub> stub_;
};

constexpr int kServing = 1;
constexpr int kNotServing = 2;

TEST_F(GrpcServiceTest, HealthIsServingOnceTheHostTableExists) {
  EXPECT_TRUE(fake_.host_table_present());
  EXPECT_EQ(HealthStatus(channel_), kServing);
  EXPECT_EQ(HealthStatus(channel_, "probesnat.v1.Enrollment"), kServing);
}

TEST_F(GrpcServiceTest, HealthIsNotServingWhenTheHostTableCannotBeCreated) {
  fake_.FailNext(FakeBackend::Op::kEnsureHost, absl::UnavailableError("no nf_tables"));
  fake_.DeleteHostTable();
  StartDaemon();
  EXPECT_EQ(HealthStatus(channel_), kNotServing);
  EXPECT_EQ(HealthStatus(channel_, "probesnat.v1.Enrollment"), kNotServing);
}

TEST_F(GrpcServiceTest, SocketIsPrivateAndItsDirectoryWasCreated0700) {
  struct stat st {};
  ASSERT_EQ(::stat(config_.socket_path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat((dir_ + "/run").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
}

TEST_F(GrpcServiceTest, ASecondServerOnALiveSocketIsRefusedAndAStaleSocketIsReplaced) {
  EXPECT_THAT(std::string(PrepareSocketPath(config_.socket_path).message()),
              HasSubstr("another server is listening"));
  // A crash leaves the socket file behind: simulate by making a socket file nobody listens on.
  daemon_.reset();
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, config_.socket_path.c_str(), sizeof(addr.sun_path) - 1);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ::close(fd);
  StartDaemon();
  EXPECT_EQ(HealthStatus(channel_), kServing);
}

TEST_F(GrpcServiceTest, ReflectionListsEveryService) {
  grpc::ClientContext ctx;
  grpc::internal::RpcMethod method("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
                                   grpc::internal::RpcMethod::BIDI_STREAMING);
  std::unique_ptr<grpc::ClientReaderWriter<grpc::ByteBuffer, grpc::ByteBuffer>> stream(
      grpc::internal::ClientReaderWriterFactory<grpc::ByteBuffer, grpc::ByteBuffer>::Create(
          channel_.get(), method, &ctx));
  // ServerReflectionRequest{list_services = "*"}: field 7, length-delimited.
  std::string request("\x3a\x01*", 3);
  grpc::Slice slice(request);
  ASSERT_TRUE(stream->Write(grpc::ByteBuffer(&slice, 1)));
  stream->WritesDone();
  grpc::ByteBuffer reply;
  ASSERT_TRUE(stream->Read(&reply));
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(reply.Dump(&slices).ok());
  std::string bytes;
  for (const grpc::Slice& s : slices) {
    bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  // ServerReflectionResponse.list_services_response (6) → ServiceResponse service (1) → name (1).
  std::vector<std::string> names;
  google::protobuf::UnknownFieldSet response;
  ASSERT_TRUE(response.ParseFromString(bytes));
  for (int i = 0; i < response.field_count(); ++i) {
    if (response.field(i).number() != 6) {
      continue;
    }
    google::protobuf::UnknownFieldSet list;
    ASSERT_TRUE(list.ParseFromString(response.field(i).length_delimited()));
    for (int j = 0; j < list.field_count(); ++j) {
      google::protobuf::UnknownFieldSet service;
      ASSERT_TRUE(service.ParseFromString(list.field(j).length_delimited()));
      names.push_back(service.field(0).length_delimited());
    }
  }
  EXPECT_THAT(names, ::testing::IsSupersetOf({"probesnat.v1.Enrollment", "probesnat.v1.Policy",
                                              "grpc.health.v1.Health"}));
  stream->Finish();
}

TEST_F(GrpcServiceTest, LoopbackTcpListenerServesTheSameApi) {
  ASSERT_GT(daemon_->tcp_port(), 0);
  auto tcp = grpc::CreateChannel(absl::StrCat("127.0.0.1:", daemon_->tcp_port()),
                                 grpc::InsecureChannelCredentials());
  EXPECT_EQ(HealthStatus(tcp, "", kTcpToken), kServing);
  // Without the token every call over TCP is refused.
  grpc::ClientContext ctx;
  google::protobuf::StringValue req;
  google::protobuf::Int32Value resp;
  grpc::internal::RpcMethod method("/grpc.health.v1.Health/Check",
                                   grpc::internal::RpcMethod::NORMAL_RPC);
  grpc::Status st = grpc::internal::BlockingUnaryCall(tcp.get(), method, &ctx, req, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED) << st.error_message();
}

TEST_F(GrpcServiceTest, EnrollGetListUnenroll) {
  v1::EnrollResponse enrolled;
  ASSERT_TRUE(Enroll(MakePod("u1", "10.0.0.1", 0), &enrolled).ok());
  EXPECT_EQ(enrolled.status().phase(), v1::POD_PHASE_APPLIED);
  EXPECT_EQ(enrolled.status().generation(), 1u);
  EXPECT_EQ(enrolled.status().pod().name(), "web-u1");
  EXPECT_TRUE(fake_.pod_table(ns_[0]).has_value());
  EXPECT_EQ(fake_.host_members().size(), 1u);

  v1::PodStatus got;
  ASSERT_TRUE(Get("u1", &got).ok());
  EXPECT_EQ(got.phase(), v1::POD_PHASE_APPLIED);
  EXPECT_EQ(got.pod().netns_path(), ns_[0]);

  ASSERT_TRUE(Enroll(MakePod("u2", "fd00:5::2", 1), &enrolled).ok());
  grpc::ClientContext list_ctx;
  v1::ListResponse list;
  ASSERT_TRUE(stub_->List(&list_ctx, v1::ListRequest(), &list).ok());
  std::vector<std::string> uids;
  for (const auto& s : list.pods()) {
    uids.push_back(s.pod().uid());
  }
  EXPECT_THAT(uids, UnorderedElementsAre("u1", "u2"));

  grpc::ClientContext un_ctx;
  v1::UnenrollRequest un;
  un.set_uid("u1");
  v1::UnenrollResponse unresp;
  ASSERT_TRUE(stub_->Unenroll(&un_ctx, un, &unresp).ok());
  EXPECT_TRUE(unresp.was_enrolled());
  EXPECT_FALSE(fake_.pod_table(ns_[0]).has_value());

  grpc::ClientContext again_ctx;
  ASSERT_TRUE(stub_->Unenroll(&again_ctx, un, &unresp).ok());
  EXPECT_FALSE(unresp.was_enrolled());
  EXPECT_EQ(Get("u1", &got).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(GrpcServiceTest, InvalidRequestsAreInvalidArgumentAndTouchNothing) {
  int before = fake_.mutating_calls();
  struct Case {
    std::function<void(v1::Pod&)> mutate;
    std::string field;
  };
  std::vector<Case> cases = {
      {[](v1::Pod& p) { p.set_uid(""); }, "pod.uid"},
      {[](v1::Pod& p) { p.set_namespace_("Bad_NS"); }, "pod.namespace"},
      {[](v1::Pod& p) { p.set_name(""); }, "pod.name"},
      {[](v1::Pod& p) { p.set_ips(0, "127.0.0.1"); }, "pod.ips[0]"},
      {[](v1::Pod& p) { p.set_netns_path("/run/netns/../x"); }, "pod.netns_path"},
      {[](v1::Pod& p) { p.set_netns_path("/proc/999999999/ns/net"); }, "pod.netns_path"},
      {[](v1::Pod& p) { p.add_probe_ports(0); }, "pod.probe_ports[1]"},
  };
  for (const Case& c : cases) {
    v1::Pod pod = MakePod("u1", "10.0.0.1", 0);
    c.mutate(pod);
    v1::EnrollResponse resp;
    grpc::Status st = Enroll(pod, &resp);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.field;
    EXPECT_THAT(st.error_message(), ::testing::StartsWith(c.field)) << st.error_message();
  }
  v1::PodStatus got;
  EXPECT_EQ(Get("", &got).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(fake_.mutating_calls(), before);
  EXPECT_TRUE(fake_.host_members().empty());
}

TEST_F(GrpcServiceTest, AnIpClaimedByAnotherPodIsFailedPrecondition) {
  v1::EnrollResponse resp;
  ASSERT_TRUE(Enroll(MakePod("u1", "10.0.0.1", 0), &resp).ok());
  grpc::Status st = Enroll(MakePod("u2", "10.0.0.1", 1), &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(st.error_message(), HasSubstr("10.0.0.1 is already enrolled for pod shop/web-u1"));
}

TEST_F(GrpcServiceTest, KernelFailureIsUnavailableAndTheStatusSaysWhy) {
  fake_.FailNext(FakeBackend::Op::kApplyPod, absl::UnavailableError("netlink: Permission denied"));
  v1::EnrollResponse resp;
  grpc::Status st = Enroll(MakePod("u1", "10.0.0.1", 0), &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(st.error_message(), HasSubstr("Permission denied"));
  EXPECT_TRUE(fake_.host_members().empty());
  v1::PodStatus got;
  ASSERT_TRUE(Get("u1", &got).ok());
  EXPECT_EQ(got.phase(), v1::POD_PHASE_FAILED);
  EXPECT_THAT(got.reason(), HasSubstr("Permission denied"));
}

TEST_F(GrpcServiceTest, SyncReplacesTheEnrolledSet) {
  v1::EnrollResponse resp;
  ASSERT_TRUE(Enroll(MakePod("old", "10.0.0.9", 2), &resp).ok());
  grpc::ClientContext ctx;
  v1::SyncRequest req;
  *req.add_pods() = MakePod("u1", "10.0.0.1", 0);
  *req.add_pods() = MakePod("u2", "10.0.0.2", 1);
  v1::SyncResponse sync;
  ASSERT_TRUE(stub_->Sync(&ctx, req, &sync).ok());
  ASSERT_EQ(sync.statuses_size(), 2);
  EXPECT_EQ(sync.statuses(0).phase(), v1::POD_PHASE_APPLIED);
  EXPECT_EQ(sync.statuses(1).phase(), v1::POD_PHASE_APPLIED);
  ASSERT_EQ(sync.removed_uids_size(), 1);
  EXPECT_EQ(sync.removed_uids(0), "old");
  EXPECT_FALSE(fake_.pod_table(ns_[2]).has_value());
}

TEST_F(GrpcServiceTest, SyncWithAnInvalidOrDuplicatePodChangesNothing) {
  v1::EnrollResponse resp;
  ASSERT_TRUE(Enroll(MakePod("keep", "10.0.0.9", 2), &resp).ok());
  int before = fake_.mutating_calls();
  {
    grpc::ClientContext ctx;
    v1::SyncRequest req;
    *req.add_pods() = MakePod("u1", "10.0.0.1", 0);
    *req.add_pods() = MakePod("u1", "10.0.0.2", 1);
    v1::SyncResponse sync;
    grpc::Status st = stub_->Sync(&ctx, req, &sync);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(st.error_message(), ::testing::StartsWith("pods[1].uid"));
  }
  {
    grpc::ClientContext ctx;
    v1::SyncRequest req;
    *req.add_pods() = MakePod("u1", "10.0.0.1", 0);
    *req.add_pods() = MakePod("u2", "not-an-ip", 1);
    v1::SyncResponse sync;
    grpc::Status st = stub_->Sync(&ctx, req, &sync);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(st.error_message(), ::testing::StartsWith("pods[1].ips[0]"));
  }
  EXPECT_EQ(fake_.mutating_calls(), before);
  v1::PodStatus got;
  EXPECT_TRUE(Get("keep", &got).ok());
}

TEST_F(GrpcServiceTest, WatchStreamsInitialStateThenChangesAndCancelsCleanly) {
  v1::EnrollResponse resp;
  ASSERT_TRUE(Enroll(MakePod("u1", "10.0.0.1", 0), &resp).ok());
  grpc::ClientContext ctx;
  v1::WatchRequest req;
  req.set_initial_state(true);
  std::unique_ptr<grpc::ClientReader<v1::Event>> reader = stub_->Watch(&ctx, req);
  v1::Event ev;
  ASSERT_TRUE(reader->Read(&ev));
  EXPECT_EQ(ev.status().pod().uid(), "u1");
  EXPECT_EQ(ev.status().phase(), v1::POD_PHASE_APPLIED);

  ASSERT_TRUE(Enroll(MakePod("u2", "10.0.0.2", 1), &resp).ok());
  ASSERT_TRUE(reader->Read(&ev));
  EXPECT_EQ(ev.status().pod().uid(), "u2");
  EXPECT_EQ(ev.status().phase(), v1::POD_PHASE_APPLIED);

  grpc::ClientContext un_ctx;
  v1::UnenrollRequest un;
  un.set_uid("u2");
  v1::UnenrollResponse unresp;
  ASSERT_TRUE(stub_->Unenroll(&un_ctx, un, &unresp).ok());
  ASSERT_TRUE(reader->Read(&ev));
  EXPECT_EQ(ev.status().pod().uid(), "u2");
  EXPECT_EQ(ev.status().phase(), v1::POD_PHASE_REMOVED);

  ctx.TryCancel();
  while (reader->Read(&ev)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
}

// Issue 10: at most 32 Watch streams at once (each holds a server thread); one more is
// RESOURCE_EXHAUSTED and leaves the others and the unary calls working; a closed stream frees
// its place.
TEST_F(GrpcServiceTest, WatchStreamsAreBounded) {
  v1::EnrollResponse resp;
  ASSERT_TRUE(Enroll(MakePod("u1", "10.0.0.1", 0), &resp).ok());
  v1::WatchRequest req;
  req.set_initial_state(true);
  constexpr int kMax = 32;
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<std::unique_ptr<grpc::ClientReader<v1::Event>>> readers;
  v1::Event ev;
  for (int i = 0; i < kMax; ++i) {
    contexts.push_back(std::make_unique<grpc::ClientContext>());
    readers.push_back(stub_->Watch(contexts.back().get(), req));
    ASSERT_TRUE(readers.back()->Read(&ev)) << "stream " << i << ": " << readers.back()->Finish().error_message();
  }
  {
    grpc::ClientContext ctx;
    std::unique_ptr<grpc::ClientReader<v1::Event>> extra = stub_->Watch(&ctx, req);
    EXPECT_FALSE(extra->Read(&ev));
    grpc::Status st = extra->Finish();
    EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << st.error_message();
    EXPECT_THAT(st.error_message(), HasSubstr("at most 32"));
  }
  v1::PodStatus got;
  EXPECT_TRUE(Get("u1", &got).ok());

  contexts[0]->TryCancel();
  while (readers[0]->Read(&ev)) {
  }
  EXPECT_EQ(readers[0]->Finish().error_code(), grpc::StatusCode::CANCELLED);
  // The server notices the cancel within its watch poll (200 ms).
  bool reopened = false;
  for (int attempt = 0; attempt < 50 && !reopened; ++attempt) {
    grpc::ClientContext ctx;
    std::unique_ptr<grpc::ClientReader<v1::Event>> again = stub_->Watch(&ctx, req);
    reopened = again->Read(&ev);
    ctx.TryCancel();
    while (again->Read(&ev)) {
    }
    again->Finish();
    if (!reopened) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  EXPECT_TRUE(reopened);
  for (size_t i = 1; i < contexts.size(); ++i) {
    contexts[i]->TryCancel();
    while (readers[i]->Read(&ev)) {
    }
    readers[i]->Finish();
  }
}

TEST_F(GrpcServiceTest, WatchEndsWhenTheDaemonStops) {
  grpc::ClientContext ctx;
  std::unique_ptr<grpc::ClientReader<v1::Event>> reader = stub_->Watch(&ctx, v1::WatchRequest());
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    daemon_->Stop();
  });
  v1::Event ev;
  EXPECT_FALSE(reader->Read(&ev));
  grpc::Status st = reader->Finish();
  stopper.join();
  EXPECT_TRUE(st.ok() || st.error_code() == grpc::StatusCode::UNAVAILABLE ||
              st.error_code() == grpc::StatusCode::CANCELLED)
      << st.error_message();
}

agent::Finding Blocking() {
  agent::Finding f;
  f.severity = agent::Severity::kError;
  f.kind = agent::FindingKind::kHboneIngress;
  f.policy_namespace = "shop";
  f.policy_name = "allow-frontend";
  f.rule_index = 0;
  f.direction = agent::Direction::kIngress;
  f.message = "peers allowed on 8080 cannot reach 15008";
  return f;
}

TEST_F(GrpcServiceTest, EnforceModeRefusesWithTheFindingsAndNoKernelChange) {
  gate_.findings = {Blocking()};
  int before = fake_.mutating_calls();
  v1::EnrollResponse resp;
  grpc::Status st = Enroll(MakePod("u1", "10.0.0.1", 0), &resp, v1::POLICY_MODE_ENFORCE);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(st.error_message(), HasSubstr("shop/allow-frontend, ingress rule 0"));
  EXPECT_THAT(st.error_message(), HasSubstr("cannot reach 15008"));
  EXPECT_EQ(fake_.mutating_calls(), before);
  v1::PodStatus got;
  EXPECT_EQ(Get("u1", &got).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(GrpcServiceTest, ARefusalAndItsFindingsAreLoggedOneRecordEach) {
  agent::Finding with_fix = Blocking();
  with_fix.rule_index = 1;
  with_fix.fix_yaml =
      "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nspec:\n  podSelector: {}\n";
  gate_.findings = {Blocking(), with_fix};
  testing::LogCapture capture;
  v1::EnrollResponse resp;
  grpc::Status st = Enroll(MakePod("u1", "10.0.0.1", 0), &resp, v1::POLICY_MODE_ENFORCE);
  ASSERT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  ASSERT_NE(st.error_message().find('\n'), std::string::npos);  // the refusal spans lines
  int refusals = 0, findings = 0;
  for (const std::string& r : capture.records()) {
    EXPECT_EQ(r.find('\n'), r.size() - 1) << r;  // one record, one line
    if (r.find("uid=\"u1\"") == std::string::npos) {
      continue;
    }
    if (r.find("result=REFUSED_BY_POLICY") != std::string::npos) {
      ++refusals;
      EXPECT_THAT(r, HasSubstr("ingress rule 0 (SEVERITY_ERROR)"));
      EXPECT_THAT(r, HasSubstr("ingress rule 1 (SEVERITY_ERROR)"));
    }
    if (r.find(" finding ") != std::string::npos) {
      ++findings;
      EXPECT_THAT(r, HasSubstr("policy=\"shop/allow-frontend\""));
    }
    if (r.find("finding 2/2") != std::string::npos) {
      EXPECT_THAT(r, HasSubstr("fix=\"apiVersion: networking.k8s.io/v1\\x0akind: NetworkPolicy"));
    }
  }
  EXPECT_EQ(refusals, 1);
  EXPECT_EQ(findings, 2);
}

TEST_F(GrpcServiceTest, WarnModeEnrollsAndReportsTheFindings) {
  gate_.findings = {Blocking()};
  v1::EnrollResponse resp;
  ASSERT_TRUE(Enroll(MakePod("u1", "10.0.0.1", 0), &resp).ok());
  EXPECT_EQ(resp.status().phase(), v1::POD_PHASE_APPLIED);
  ASSERT_EQ(resp.status().findings_size(), 1);
  EXPECT_EQ(resp.status().findings(0).policy_name(), "allow-frontend");
}

TEST_F(GrpcServiceTest, ConfiguredEnforceModeAppliesWhenTheRequestLeavesItUnset) {
  StartDaemon(PolicyMode::kEnforce);
  gate_.findings = {Blocking()};
  v1::EnrollResponse resp;
  EXPECT_EQ(Enroll(MakePod("u1", "10.0.0.1", 0), &resp).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  // The configured mode is a floor: a request cannot switch the check off.
  grpc::Status off = Enroll(MakePod("u1", "10.0.0.1", 0), &resp, v1::POLICY_MODE_OFF);
  EXPECT_EQ(off.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(off.error_message(), HasSubstr("asked for policy mode off"));
}

// Fail closed (issue 14): enforce with no snapshot loaded refuses, says why and how to load one,
// and changes nothing; once a snapshot is there the same request enrolls.
TEST_F(GrpcServiceTest, ConfiguredEnforceWithoutASnapshotIsFailedPreconditionAndChangesNothing) {
  gate_.loaded = false;
  StartDaemon(PolicyMode::kEnforce);
  const int before = fake_.mutating_calls();
  v1::EnrollResponse resp;
  grpc::Status st = Enroll(MakePod("u1", "10.0.0.1", 0), &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << st.error_message();
  EXPECT_THAT(st.error_message(), HasSubstr("no policy snapshot loaded"));
  EXPECT_THAT(st.error_message(), HasSubstr("Policy.ReplaceSnapshot"));
  EXPECT_EQ(fake_.mutating_calls(), before);
  v1::PodStatus got;
  EXPECT_EQ(Get("u1", &got).error_code(), grpc::StatusCode::NOT_FOUND);
  // Sync refuses each pod the same way (a FAILED status, not an RPC error).
  v1::SyncRequest sync;
  *sync.add_pods() = MakePod("u2", "10.0.0.2", 1);
  v1::SyncResponse synced;
  grpc::ClientContext ctx;
  ASSERT_TRUE(stub_->Sync(&ctx, sync, &synced).ok());
  ASSERT_EQ(synced.statuses_size(), 1);
  EXPECT_EQ(synced.statuses(0).phase(), v1::POD_PHASE_FAILED);
  EXPECT_THAT(synced.statuses(0).reason(), HasSubstr("no policy snapshot loaded"));

  gate_.loaded = true;
  ASSERT_TRUE(Enroll(MakePod("u1", "10.0.0.1", 0), &resp).ok());
  EXPECT_EQ(resp.status().phase(), v1::POD_PHASE_APPLIED);
}

TEST_F(GrpcServiceTest, RequestedEnforceWithoutASnapshotIsRefusedInWarnMode) {
  gate_.loaded = false;
  v1::EnrollResponse resp;
  grpc::Status st = Enroll(MakePod("u1", "10.0.0.1", 0), &resp, v1::POLICY_MODE_ENFORCE);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << st.error_message();
  EXPECT_THAT(st.error_message(), HasSubstr("no policy snapshot loaded"));
}

TEST_F(GrpcServiceTest, WarnWithoutASnapshotEnrollsWithANotCheckedWarning) {
  gate_.loaded = false;
  gate_.findings = {Blocking()};  // not consulted: there is nothing to check against
  v1::EnrollResponse resp;
  ASSERT_TRUE(Enroll(MakePod("u1", "10.0.0.1", 0), &resp).ok());
  EXPECT_EQ(resp.status().phase(), v1::POD_PHASE_APPLIED);
  ASSERT_EQ(resp.status().findings_size(), 1);
  EXPECT_EQ(resp.status().findings(0).kind(), v1::FINDING_KIND_NOT_CHECKED);
  EXPECT_EQ(resp.status().findings(0).severity(), v1::SEVERITY_WARNING);
  EXPECT_THAT(resp.status().findings(0).message(), HasSubstr("no policy snapshot loaded"));
}

}  // namespace
}  // namespace probesnat::daemon
