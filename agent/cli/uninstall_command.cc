#include "agent/cli/uninstall_command.h"

#include <unistd.h>

#include <climits>
#include <fstream>
#include <ostream>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "agent/daemon/uninstall_request.h"

namespace probesnat::cli {
namespace {

constexpr int kExitRecorded = 0;
constexpr int kExitError = 2;

std::string FirstLine(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

// The pid of the probesnatd that holds the run directory's lock, when that process runs; 0 if none.
// Only read (taking the lock, even shared, could make an agent starting right now fail).
int RunningAgentPid(const std::string& run_dir) {
  int pid = 0;
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(FirstLine(run_dir + "/probesnatd.lock")),
                        &pid) ||
      pid <= 0) {
    return 0;
  }
  return absl::StripAsciiWhitespace(FirstLine(absl::StrCat("/proc/", pid, "/comm"))) == "probesnatd"
             ? pid
             : 0;
}

std::string RequestText() {
  char host[HOST_NAME_MAX + 1] = {};
  ::gethostname(host, sizeof(host) - 1);
  return absl::StrCat("requested at ",
                      absl::FormatTime(absl::RFC3339_sec, absl::Now(), absl::UTCTimeZone()),
                      " by probesnatctl uid ", ::getuid(), " pid ", ::getpid(), " on ", host, "\n");
}

}  // namespace

int RunUninstall(const UninstallArgs& args, std::ostream& out, std::ostream& err) {
  absl::StatusOr<daemon::RecordedUninstallRequest> recorded =
      daemon::RecordUninstallRequest(args.run_dir, RequestText());
  if (!recorded.ok()) {
    err << "probesnatctl uninstall: " << recorded.status().message()
        << " (is --run-dir the agent's run directory, the directory of its socket?)\n";
    return kExitError;
  }
  const std::string path = daemon::UninstallRequestPath(args.run_dir);
  if (recorded->already_present) {
    out << "An uninstall is already requested in " << path << " ("
        << absl::StripAsciiWhitespace(recorded->text) << "); nothing changed.\n";
  } else {
    out << "Recorded the uninstall request " << path << ".\n";
  }
  if (int pid = RunningAgentPid(args.run_dir); pid != 0) {
    out << "When probesnatd (pid " << pid
        << ") stops next (kubectl delete of the DaemonSet, or SIGTERM), it removes every pod "
           "table, the node's table and its state file, and install-cni removes probesnat-cni "
           "from the CNI conflist; pod traffic then flows directly again.\n";
  } else {
    err << "probesnatctl uninstall: warning: no running probesnatd holds " << args.run_dir
        << "/probesnatd.lock; install-cni's stop still sees the request, but a probesnatd "
           "started later on this directory discards it (rules it finds stay).\n";
  }
  out << "To cancel before the agent stops: rm " << path << "\n";
  return kExitRecorded;
}

}  // namespace probesnat::cli
