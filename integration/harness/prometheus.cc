#include "integration/harness/prometheus.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "integration/harness/http_get.h"
#include "netfilter/netns.h"

namespace probesnat::integration {

std::string PrometheusPath() {
  if (const char* env = std::getenv("PROMETHEUS"); env != nullptr && *env != '\0') {
    return env;
  }
  return "/usr/bin/prometheus";
}

absl::StatusOr<std::unique_ptr<PrometheusServer>> PrometheusServer::Start(const Options& o) {
  const std::string binary = PrometheusPath();
  if (::access(binary.c_str(), X_OK) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "prometheus not found at ", binary, " (apt-get install prometheus, or set PROMETHEUS)"));
  }
  std::unique_ptr<PrometheusServer> p(new PrometheusServer());
  char tmpl[] = "/tmp/psnt-prometheus-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) {
    return absl::InternalError(absl::StrCat("mkdtemp: ", std::strerror(errno)));
  }
  p->dir_ = tmpl;
  p->port_ = o.port;
  absl::StatusOr<UniqueFd> fd = netfilter::OpenNetns(absl::StrCat("/run/netns/", o.netns));
  if (!fd.ok()) {
    return fd.status();
  }
  p->netns_fd_ = std::move(*fd);

  std::vector<std::string> quoted;
  for (const std::string& t : o.targets) {
    quoted.push_back(absl::StrCat("'", t, "'"));
  }
  const std::string interval = absl::StrCat(absl::ToInt64Milliseconds(o.scrape_interval), "ms");
  {
    std::ofstream config(p->dir_ + "/prometheus.yml");
    config << "global:\n  scrape_interval: " << interval << "\n  scrape_timeout: " << interval
           << "\n  evaluation_interval: " << interval
           << "\nscrape_configs:\n  - job_name: probesnat\n    static_configs:\n      - targets: ["
           << absl::StrJoin(quoted, ", ") << "]\n";
  }
  std::vector<std::string> argv_s = {
      "ip",
      "netns",
      "exec",
      o.netns,
      binary,
      absl::StrCat("--config.file=", p->dir_, "/prometheus.yml"),
      absl::StrCat("--storage.tsdb.path=", p->dir_, "/data"),
      absl::StrCat("--web.listen-address=127.0.0.1:", o.port),
      "--log.level=warn"};
  std::vector<char*> argv;
  for (std::string& s : argv_s) {
    argv.push_back(s.data());
  }
  argv.push_back(nullptr);
  int log_fd = ::open((p->dir_ + "/prometheus.log").c_str(),
                      O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (log_fd < 0) {
    return absl::InternalError(absl::StrCat("open log: ", std::strerror(errno)));
  }
  const pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(log_fd);
    return absl::InternalError(absl::StrCat("fork: ", std::strerror(errno)));
  }
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlives the test
    if (::getppid() != parent) {
      ::_exit(127);
    }
    ::dup2(log_fd, STDOUT_FILENO);
    ::dup2(log_fd, STDERR_FILENO);
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) {
      ::dup2(devnull, STDIN_FILENO);
    }
    if (::chdir(p->dir_.c_str()) != 0) {
      ::_exit(127);
    }
    ::execvp("ip", argv.data());
    ::_exit(127);
  }
  ::close(log_fd);
  p->pid_ = pid;

  const absl::Time deadline = absl::Now() + o.ready_timeout;
  while (absl::Now() < deadline) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      p->pid_ = -1;
      return absl::InternalError(
          absl::StrCat("prometheus exited at start (status ", status, ")\n", p->Log()));
    }
    absl::StatusOr<HttpReply> r =
        HttpGet(p->netns_fd_.get(), Endpoint{"127.0.0.1", o.port}, "/-/ready", absl::Seconds(1));
    if (r.ok() && r->status == 200) {
      return p;
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
  return absl::DeadlineExceededError(absl::StrCat("prometheus not ready after ",
                                                  absl::FormatDuration(o.ready_timeout), "\n",
                                                  p->Log()));
}

PrometheusServer::~PrometheusServer() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    int status = 0;
    const absl::Time deadline = absl::Now() + absl::Seconds(5);
    while (::waitpid(pid_, &status, WNOHANG) == 0) {
      if (absl::Now() > deadline) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        break;
      }
      absl::SleepFor(absl::Milliseconds(20));
    }
  }
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

std::string PrometheusServer::Log() const {
  std::ifstream in(dir_ + "/prometheus.log");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

absl::StatusOr<std::vector<PrometheusServer::Sample>> PrometheusServer::Query(
    const std::string& promql) {
  absl::StatusOr<HttpReply> r = HttpGet(netns_fd_.get(), Endpoint{"127.0.0.1", port_},
                                        "/api/v1/query?query=" + UrlEncode(promql));
  if (!r.ok()) {
    return r.status();
  }
  nlohmann::json j = nlohmann::json::parse(r->body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || j.value("status", "") != "success") {
    return absl::InternalError(
        absl::StrCat("query ", promql, ": HTTP ", r->status, ": ", r->body));
  }
  std::vector<Sample> out;
  for (const nlohmann::json& series : j["data"]["result"]) {
    Sample s;
    for (const auto& [k, v] : series["metric"].items()) {
      s.labels[k] = v.get<std::string>();
    }
    if (!absl::SimpleAtod(series["value"][1].get<std::string>(), &s.value)) {
      return absl::InternalError(absl::StrCat("query ", promql, ": bad value in ", r->body));
    }
    out.push_back(std::move(s));
  }
  return out;
}

absl::StatusOr<double> PrometheusServer::QueryOne(const std::string& promql) {
  absl::StatusOr<std::vector<Sample>> samples = Query(promql);
  if (!samples.ok()) {
    return samples.status();
  }
  if (samples->size() != 1) {
    return absl::NotFoundError(
        absl::StrCat("query ", promql, " returned ", samples->size(), " series, not 1"));
  }
  return samples->front().value;
}

}  // namespace probesnat::integration
