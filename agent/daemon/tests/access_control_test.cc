// The pieces that decide who may run and call the agent: the run-directory lock, the directory
// checks, the TCP token file and the unix-socket peer policy.
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "agent/daemon/peer_credentials.h"
#include "agent/daemon/run_directory.h"
#include "agent/daemon/tcp_token_auth.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace probesnat::daemon {
namespace {

using ::testing::HasSubstr;

class AccessControlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/probesnatd-access-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string WriteFile(const std::string& name, const std::string& text, mode_t mode) {
    std::string path = dir_ + "/" + name;
    { std::ofstream(path) << text; }
    EXPECT_EQ(::chmod(path.c_str(), mode), 0);
    return path;
  }

  std::string dir_;
};

TEST_F(AccessControlTest, TheLockAdmitsOneHolderAndNamesItsPid) {
  const std::string socket = dir_ + "/run/probesnat/probesnat.sock";
  absl::StatusOr<std::unique_ptr<RunDirectoryLock>> first = RunDirectoryLock::Acquire(socket);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ((*first)->path(), dir_ + "/run/probesnat/probesnatd.lock");
  struct stat st {};
  ASSERT_EQ(::stat((dir_ + "/run/probesnat").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  std::ifstream in((*first)->path());
  int pid = 0;
  in >> pid;
  EXPECT_EQ(pid, ::getpid());
  // flock locks belong to the open file, so a second open in this process conflicts too.
  absl::StatusOr<std::unique_ptr<RunDirectoryLock>> second = RunDirectoryLock::Acquire(socket);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(second.status().message()),
              HasSubstr(absl::StrCat("another probesnatd (pid ", ::getpid(), ")")));
  first->reset();
  EXPECT_TRUE(RunDirectoryLock::Acquire(socket).ok()) << "the lock outlived its holder";
}

TEST_F(AccessControlTest, DirectoriesOthersCanWriteAreRefused) {
  EXPECT_TRUE(CheckPrivateDirectory(dir_).ok());
  const std::string open = dir_ + "/open";
  ASSERT_EQ(::mkdir(open.c_str(), 0700), 0);
  ASSERT_EQ(::chmod(open.c_str(), 0777), 0);
  absl::Status st = CheckPrivateDirectory(open);
  EXPECT_THAT(std::string(st.message()), HasSubstr("mode 0777"));
  EXPECT_THAT(std::string(st.message()), HasSubstr(open));
  ASSERT_EQ(::mkdir((open + "/inner").c_str(), 0700), 0);
  st = CheckPrivateDirectory(open + "/inner");
  EXPECT_THAT(std::string(st.message()), HasSubstr("above the socket directory"));
  ASSERT_EQ(::chmod(open.c_str(), 01777), 0);  // sticky, like /tmp: fine as an ancestor
  EXPECT_TRUE(CheckPrivateDirectory(open + "/inner").ok());
  EXPECT_FALSE(RunDirectoryLock::Acquire(open + "/probesnat.sock").ok());
}

TEST_F(AccessControlTest, TokenFileMustBePrivateAndHoldAToken) {
  const std::string good = WriteFile("good", "  0123456789abcdef-token\n", 0600);
  absl::StatusOr<std::string> token = LoadBearerToken(good);
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(*token, "0123456789abcdef-token");
  EXPECT_THAT(
      std::string(LoadBearerToken(WriteFile("loose", "0123456789abcdef", 0640)).status().message()),
      HasSubstr("mode 0640"));
  EXPECT_THAT(std::string(LoadBearerToken(WriteFile("short", "short", 0600)).status().message()),
              HasSubstr("16 to 4096"));
  EXPECT_THAT(
      std::string(
          LoadBearerToken(WriteFile("spaces", "0123456789 abcdef", 0600)).status().message()),
      HasSubstr("without spaces"));
  EXPECT_THAT(std::string(LoadBearerToken(dir_ + "/missing").status().message()),
              HasSubstr("listen-tcp-token-file"));
}

TEST(ConstantTimeEqualsTest, ComparesContentsAndLengths) {
  EXPECT_TRUE(ConstantTimeEquals("Bearer abc", "Bearer abc"));
  EXPECT_FALSE(ConstantTimeEquals("Bearer abc", "Bearer abd"));
  EXPECT_FALSE(ConstantTimeEquals("Bearer abc", "Bearer ab"));
  EXPECT_FALSE(ConstantTimeEquals("", "x"));
  EXPECT_TRUE(ConstantTimeEquals("", ""));
}

TEST(AllowedPeersTest, RootAlwaysThenListedUidsAndGroups) {
  AllowedPeers none;
  EXPECT_TRUE(none.Allows({1, 0, 0, {}}));
  EXPECT_FALSE(none.Allows({1, 1000, 1000, {}}));
  AllowedPeers some{{1000}, {2000}};
  EXPECT_TRUE(some.Allows({1, 1000, 1000, {}}));
  EXPECT_TRUE(some.Allows({1, 1001, 2000, {}}));
  EXPECT_TRUE(some.Allows({1, 1001, 1001, {5, 2000}}));
  EXPECT_FALSE(some.Allows({1, 1001, 1001, {5}}));
  EXPECT_EQ(some.Describe(), "uids 0,1000; gids 2000");
}

}  // namespace
}  // namespace probesnat::daemon
