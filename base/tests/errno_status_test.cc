#include "base/errno_status.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace probesnat::base {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using Code = absl::StatusCode;

struct Row {
  int err;
  Code caller_path;
  Code agent_call;
};

class ErrnoStatusCodeTest : public ::testing::TestWithParam<Row> {};

TEST_P(ErrnoStatusCodeTest, MapsByOrigin) {
  const Row& row = GetParam();
  EXPECT_EQ(ErrnoStatusCode(row.err, ErrnoOrigin::kCallerPath), row.caller_path)
      << std::strerror(row.err);
  EXPECT_EQ(ErrnoStatusCode(row.err, ErrnoOrigin::kAgentCall), row.agent_call)
      << std::strerror(row.err);
}

INSTANTIATE_TEST_SUITE_P(
    Errnos, ErrnoStatusCodeTest,
    ::testing::Values(
        // A missing privilege: the deployment must change, a retry as such cannot help.
        Row{EPERM, Code::kFailedPrecondition, Code::kFailedPrecondition},
        Row{EACCES, Code::kFailedPrecondition, Code::kFailedPrecondition},
        // Transient: retry.
        Row{ENOMEM, Code::kUnavailable, Code::kUnavailable},
        Row{EAGAIN, Code::kUnavailable, Code::kUnavailable},
        Row{EINTR, Code::kUnavailable, Code::kUnavailable},
        Row{EBUSY, Code::kUnavailable, Code::kUnavailable},
        Row{ENOBUFS, Code::kUnavailable, Code::kUnavailable},
        Row{ETIMEDOUT, Code::kUnavailable, Code::kUnavailable},
        Row{EIO, Code::kUnavailable, Code::kUnavailable},
        Row{EMFILE, Code::kResourceExhausted, Code::kResourceExhausted},
        Row{ENFILE, Code::kResourceExhausted, Code::kResourceExhausted},
        // The caller's path names nothing, or is malformed; for the agent's own calls the same
        // errno is a kernel failure.
        Row{ENOENT, Code::kNotFound, Code::kUnavailable},
        Row{ENOTDIR, Code::kNotFound, Code::kUnavailable},
        Row{ESRCH, Code::kNotFound, Code::kUnavailable},
        Row{EINVAL, Code::kInvalidArgument, Code::kUnavailable},
        Row{ENAMETOOLONG, Code::kInvalidArgument, Code::kUnavailable},
        Row{ELOOP, Code::kInvalidArgument, Code::kUnavailable},
        // Anything else is a kernel failure.
        Row{EOPNOTSUPP, Code::kUnavailable, Code::kUnavailable},
        Row{EEXIST, Code::kUnavailable, Code::kUnavailable}));

TEST(ErrnoStatusCodeTest, NoErrnoOfTheAgentsOwnCallsIsInvalidArgument) {
  for (int err = 1; err < 134; ++err) {
    EXPECT_NE(ErrnoStatusCode(err, ErrnoOrigin::kAgentCall), Code::kInvalidArgument)
        << err << " " << std::strerror(err);
    EXPECT_NE(ErrnoStatusCode(err, ErrnoOrigin::kAgentCall), Code::kOk) << err;
    EXPECT_NE(ErrnoStatusCode(err, ErrnoOrigin::kCallerPath), Code::kOk) << err;
  }
}

TEST(ErrnoStatusTest, MessageNamesWhatAndTheErrnoText) {
  absl::Status st = ErrnoStatus(ENOMEM, ErrnoOrigin::kAgentCall, "cannot enter /run/netns/a");
  EXPECT_EQ(st.code(), Code::kUnavailable);
  EXPECT_EQ(st.message(), absl::StrCat("cannot enter /run/netns/a: ", std::strerror(ENOMEM)));
}

TEST(ErrnoStatusTest, PermissionHintOnlyForPermissionErrors) {
  absl::Status denied =
      ErrnoStatus(EACCES, ErrnoOrigin::kCallerPath, "cannot open /proc/1/ns/net", "needs X");
  EXPECT_EQ(denied.code(), Code::kFailedPrecondition);
  EXPECT_THAT(std::string(denied.message()), HasSubstr("Permission denied; needs X"));
  absl::Status eperm = ErrnoStatus(EPERM, ErrnoOrigin::kAgentCall, "setns", "needs Y");
  EXPECT_THAT(std::string(eperm.message()), HasSubstr("; needs Y"));
  absl::Status busy = ErrnoStatus(EBUSY, ErrnoOrigin::kAgentCall, "setns", "needs Y");
  EXPECT_THAT(std::string(busy.message()), Not(HasSubstr("needs Y")));
}

// The errnos real calls set, mapped as a caller's path would be.
TEST(ErrnoStatusTest, RealSyscallErrnos) {
  ASSERT_LT(::open("/nonexistent-psnt/x", O_PATH | O_CLOEXEC), 0);
  EXPECT_EQ(ErrnoStatusCode(errno, ErrnoOrigin::kCallerPath), Code::kNotFound);
  ASSERT_LT(::open("/proc/self/status/x", O_PATH | O_CLOEXEC), 0);  // a file used as a directory
  EXPECT_EQ(ErrnoStatusCode(errno, ErrnoOrigin::kCallerPath), Code::kNotFound);
  std::string too_long(5000, 'a');
  ASSERT_LT(::open(("/" + too_long).c_str(), O_PATH | O_CLOEXEC), 0);
  EXPECT_EQ(ErrnoStatusCode(errno, ErrnoOrigin::kCallerPath), Code::kInvalidArgument);
}

}  // namespace
}  // namespace probesnat::base
