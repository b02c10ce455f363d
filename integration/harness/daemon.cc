#include "integration/harness/daemon.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "agent/client/health_check.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"

namespace probesnat::integration {

std::string ProbesnatdPath() {
  if (const char* env = std::getenv("PROBESNATD"); env != nullptr && *env != '\0') {
    return env;
  }
#ifdef PROBESNATD_PATH
  return PROBESNATD_PATH;
#else
  return "";
#endif
}

absl::StatusOr<int> HealthCheck(const std::shared_ptr<grpc::Channel>& channel,
                                absl::Duration timeout, const std::string& bearer_token) {
  return client::QueryHealth(channel, absl::Now() + timeout, bearer_token);
}

absl::StatusOr<std::unique_ptr<Daemon>> Daemon::Start(const Options& options) {
  std::string binary = options.binary.empty() ? ProbesnatdPath() : options.binary;
  if (binary.empty() || ::access(binary.c_str(), X_OK) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("probesnatd binary not found (set PROBESNATD): '", binary, "'"));
  }
  std::unique_ptr<Daemon> d(new Daemon());
  char tmpl[] = "/tmp/psnt-daemon-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) {
    return absl::InternalError(absl::StrCat("mkdtemp: ", std::strerror(errno)));
  }
  d->dir_ = tmpl;
  d->socket_ = options.socket_path.empty() ? d->dir_ + "/probesnatd.sock" : options.socket_path;
  d->log_ = d->dir_ + "/probesnatd.log";

  std::vector<std::string> argv_s = {"ip", "netns", "exec", options.node_netns};
  argv_s.insert(argv_s.end(), options.exec_prefix.begin(), options.exec_prefix.end());
  argv_s.insert(argv_s.end(), {binary, "--socket", d->socket_});
  argv_s.insert(argv_s.end(), options.args.begin(), options.args.end());
  std::vector<char*> argv;
  argv.reserve(argv_s.size() + 1);
  for (std::string& s : argv_s) {
    argv.push_back(s.data());
  }
  argv.push_back(nullptr);
  const std::string log_path = d->log_;
  int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (log_fd < 0) {
    return absl::InternalError(absl::StrCat("open ", log_path, ": ", std::strerror(errno)));
  }
  { std::ofstream(d->dir_ + "/cmdline") << absl::StrJoin(argv_s, " ") << "\n"; }
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(log_fd);
    return absl::InternalError(absl::StrCat("fork: ", std::strerror(errno)));
  }
  if (pid == 0) {
    // Child: only async-signal-safe calls until exec. Die with the test process.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) {
      ::_exit(127);
    }
    ::dup2(log_fd, STDOUT_FILENO);
    ::dup2(log_fd, STDERR_FILENO);
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) {
      ::dup2(devnull, STDIN_FILENO);
    }
    ::execvp("ip", argv.data());
    ::_exit(127);
  }
  ::close(log_fd);
  d->pid_ = pid;
  if (!options.wait_ready) {
    return d;
  }
  if (absl::Status st = d->WaitReady(options.ready_timeout); !st.ok()) {
    return absl::Status(st.code(),
                        absl::StrCat(st.message(), "\ncommand: ", absl::StrJoin(argv_s, " "),
                                     "\n--- probesnatd log ---\n", d->Log()));
  }
  return d;
}

absl::Status Daemon::WaitReady(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  const std::string ready = absl::StrCat("probesnatd ready on ", socket_);
  bool printed = false;
  while (absl::Now() < deadline) {
    if (!Running()) {
      return absl::InternalError("probesnatd exited before it was ready");
    }
    if (!printed && absl::StrContains(Log(), ready)) {
      printed = true;
      channel_ = grpc::CreateChannel("unix:" + socket_, grpc::InsecureChannelCredentials());
    }
    if (printed) {
      absl::StatusOr<int> health = HealthCheck(channel_, absl::Seconds(1));
      if (health.ok() && *health == 1) {
        return absl::OkStatus();
      }
    }
    ::usleep(20 * 1000);
  }
  return absl::DeadlineExceededError(
      absl::StrCat("probesnatd not ready (\"", ready, "\" printed: ", printed ? "yes" : "no",
                   ", health SERVING: no) within ", absl::FormatDuration(timeout)));
}

bool Daemon::Running() {
  if (reaped_ || pid_ <= 0) {
    return false;
  }
  int status = 0;
  pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    reaped_ = true;
    wait_status_ = status;
    return false;
  }
  return true;
}

absl::StatusOr<int> Daemon::WaitExit(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (Running()) {
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError(absl::StrCat(
          "probesnatd (pid ", pid_, ") still running after ", absl::FormatDuration(timeout)));
    }
    ::usleep(5 * 1000);
  }
  return wait_status_;
}

absl::StatusOr<int> Daemon::Stop(int sig, absl::Duration timeout) {
  if (reaped_ || pid_ <= 0) {
    return wait_status_;
  }
  ::kill(pid_, sig);
  const absl::Time deadline = absl::Now() + timeout;
  int status = 0;
  while (absl::Now() < deadline) {
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      reaped_ = true;
      wait_status_ = status;
      return status;
    }
    ::usleep(10 * 1000);
  }
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, &status, 0);
  reaped_ = true;
  return absl::DeadlineExceededError(
      absl::StrCat("probesnatd (pid ", pid_, ") did not stop within ",
                   absl::FormatDuration(timeout), " of signal ", sig, "; killed"));
}

Daemon::~Daemon() {
  (void)Stop(SIGTERM);
  channel_.reset();
  std::error_code ec;
  if (std::getenv("PROBESNAT_KEEP_LOGS") == nullptr) {
    std::filesystem::remove_all(dir_, ec);
  }
}

std::string Daemon::Log() const {
  std::ifstream in(log_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::unique_ptr<probesnat::v1::Enrollment::Stub> Daemon::Enrollment() const {
  return probesnat::v1::Enrollment::NewStub(channel_);
}

absl::StatusOr<long> Daemon::RssKib() const {
  std::ifstream in(absl::StrCat("/proc/", pid_, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    absl::string_view rest = line;
    if (absl::ConsumePrefix(&rest, "VmRSS:")) {
      absl::string_view v = absl::StripAsciiWhitespace(rest);
      absl::ConsumeSuffix(&v, "kB");
      long kib = 0;
      if (absl::SimpleAtoi(absl::StripAsciiWhitespace(v), &kib)) {
        return kib;
      }
    }
  }
  return absl::NotFoundError(absl::StrCat("no VmRSS for pid ", pid_));
}

}  // namespace probesnat::integration
