// What a stopping agent does with its rules (exit_decision.h): the decision between restart,
// cleanup and uninstall, read from the run directory, over the fake kernel and a real state file.
#include "agent/daemon/exit_decision.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "agent/daemon/reconciler.h"
#include "agent/daemon/state_file.h"
#include "agent/daemon/status_event_hub.h"
#include "agent/daemon/testing/desired_pod.h"
#include "agent/daemon/testing/fake_backend.h"
#include "agent/daemon/uninstall_request.h"
#include "gtest/gtest.h"

namespace probesnat::daemon {
namespace {

using testing::FakeBackend;
using Op = FakeBackend::Op;

bool Exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class ExitDecisionTest : public ::testing::Test {
 protected:
  ExitDecisionTest() {
    const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = ::testing::TempDir() + "/exit-decision-" + info->name();
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    paths_ = {.run_dir = dir_, .state_file = dir_ + "/state"};
    LoadedState loaded;
    absl::StatusOr<std::unique_ptr<StateFile>> state = StateFile::Open(paths_.state_file, &loaded);
    EXPECT_TRUE(state.ok()) << state.status();
    state_ = *std::move(state);
    reconciler_ = std::make_unique<Reconciler>(fake_, ReconcilerOptions{}, events_, state_.get());
    EXPECT_TRUE(reconciler_->EnsureHost().ok());
    reconciler_->Adopt({}, /*state_trusted=*/true);
    for (const char* ns : {"/run/netns/a", "/run/netns/b"}) {
      fake_.AddNamespace(ns);
    }
    EXPECT_TRUE(
        reconciler_->Enroll(testing::PodIn(fake_, "ua", {"10.0.0.1"}, "/run/netns/a"), {}).ok());
    EXPECT_TRUE(
        reconciler_->Enroll(testing::PodIn(fake_, "ub", {"10.0.0.2"}, "/run/netns/b"), {}).ok());
  }

  void Request() {
    absl::StatusOr<RecordedUninstallRequest> r =
        RecordUninstallRequest(dir_, "requested by test\n");
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_FALSE(r->already_present);
  }

  std::string request() const { return UninstallRequestPath(dir_); }
  std::string record() const { return UninstalledRecordPath(dir_); }

  std::string dir_;
  ExitPaths paths_;
  FakeBackend fake_;
  StatusEventHub events_;
  std::unique_ptr<StateFile> state_;
  std::unique_ptr<Reconciler> reconciler_;
};

TEST_F(ExitDecisionTest, NoRequestKeepsEveryTableAndTheStateFile) {
  const int before = fake_.mutating_calls();
  EXPECT_EQ(ActOnExit(*reconciler_, paths_, /*cleanup_on_exit=*/false), ExitAction::kKeep);
  EXPECT_TRUE(fake_.host_table_present());
  EXPECT_EQ(fake_.pod_table_count(), 2);
  EXPECT_EQ(fake_.mutating_calls(), before) << "the stop wrote the kernel";
  EXPECT_EQ(StateFile::Read(paths_.state_file).pods.size(), 2u);
  EXPECT_FALSE(Exists(record()));
}

TEST_F(ExitDecisionTest, RequestRemovesTablesStateFileAndRequestAndLeavesTheRecord) {
  Request();
  EXPECT_EQ(ActOnExit(*reconciler_, paths_, /*cleanup_on_exit=*/false), ExitAction::kUninstall);
  EXPECT_FALSE(fake_.host_table_present());
  EXPECT_EQ(fake_.pod_table_count(), 0);
  EXPECT_FALSE(Exists(paths_.state_file));
  EXPECT_FALSE(Exists(request()));
  ASSERT_TRUE(Exists(record()));
  const std::string text = Slurp(record());
  EXPECT_NE(text.find("removed 2 pod tables and the host table"), std::string::npos) << text;
  EXPECT_NE(text.find("requested by test"), std::string::npos) << text;
}

TEST_F(ExitDecisionTest, RequestWinsOverCleanupOnExit) {
  Request();
  EXPECT_EQ(ActOnExit(*reconciler_, paths_, /*cleanup_on_exit=*/true), ExitAction::kUninstall);
  EXPECT_FALSE(Exists(paths_.state_file));
}

TEST_F(ExitDecisionTest, CleanupOnExitRemovesTablesAndKeepsAnEmptyStateFile) {
  EXPECT_EQ(ActOnExit(*reconciler_, paths_, /*cleanup_on_exit=*/true), ExitAction::kCleanup);
  EXPECT_FALSE(fake_.host_table_present());
  EXPECT_EQ(fake_.pod_table_count(), 0);
  ASSERT_TRUE(Exists(paths_.state_file));
  EXPECT_TRUE(StateFile::Read(paths_.state_file).pods.empty());
  EXPECT_FALSE(Exists(record()));
}

TEST_F(ExitDecisionTest, UninstallTheKernelRefusesKeepsStateFileAndRequest) {
  Request();
  fake_.FailNext(Op::kRemovePod, absl::UnavailableError("injected"));
  EXPECT_EQ(ActOnExit(*reconciler_, paths_, /*cleanup_on_exit=*/false), ExitAction::kUninstall);
  EXPECT_EQ(fake_.pod_table_count(), 1);
  // install-cni still sees the request; the pod left is still journaled for a later agent.
  EXPECT_TRUE(Exists(request()));
  EXPECT_FALSE(Exists(record()));
  ASSERT_TRUE(Exists(paths_.state_file));
  EXPECT_EQ(StateFile::Read(paths_.state_file).pods.size(), 1u);
}

TEST_F(ExitDecisionTest, SomethingElseAtTheRequestPathIsNoRequest) {
  std::filesystem::create_directory(request());
  EXPECT_EQ(ActOnExit(*reconciler_, paths_, /*cleanup_on_exit=*/false), ExitAction::kKeep);
  EXPECT_EQ(fake_.pod_table_count(), 2);
  EXPECT_TRUE(fake_.host_table_present());
}

TEST_F(ExitDecisionTest, StaleRequestAndRecordAreDiscardedAtStart) {
  Request();
  ASSERT_TRUE(WriteFileAtomically(record(), "uninstalled earlier\n").ok());
  DiscardStaleUninstallFiles(paths_);
  EXPECT_FALSE(Exists(request()));
  EXPECT_FALSE(Exists(record()));
  EXPECT_EQ(ActOnExit(*reconciler_, paths_, /*cleanup_on_exit=*/false), ExitAction::kKeep);
  EXPECT_EQ(fake_.pod_table_count(), 2);
}

TEST(UninstallRequestTest, AnEarlierRequestIsNeverReplaced) {
  const std::string dir = ::testing::TempDir() + "/uninstall-request-twice";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  absl::StatusOr<RecordedUninstallRequest> first = RecordUninstallRequest(dir, "first\n");
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_FALSE(first->already_present);
  EXPECT_EQ(first->text, "first\n");
  absl::StatusOr<RecordedUninstallRequest> second = RecordUninstallRequest(dir, "second\n");
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_TRUE(second->already_present);
  EXPECT_EQ(second->text, "first\n");
  int entries = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir)) {
    ++entries;
  }
  EXPECT_EQ(entries, 1) << "a temporary file was left";
}

TEST(UninstallRequestTest, NoRunDirectoryIsFailedPrecondition) {
  absl::StatusOr<RecordedUninstallRequest> r =
      RecordUninstallRequest(::testing::TempDir() + "/no-such-dir", "x\n");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("no-such-dir"), std::string::npos) << r.status();
}

}  // namespace
}  // namespace probesnat::daemon
