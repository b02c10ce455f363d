#include "netfilter/testing/scoped_netns.h"

#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace probesnat::netfilter::testing {
namespace {

constexpr char kPrefix[] = "psnt-";
std::atomic<int> counter{0};

}  // namespace

absl::Status Run(const std::string& command_line) {
  int rc = std::system(command_line.c_str());
  if (rc != 0) {
    return absl::InternalError(absl::StrCat("command failed (", rc, "): ", command_line));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> RunAndCapture(const std::string& command_line) {
  FILE* pipe = ::popen(command_line.c_str(), "r");
  if (pipe == nullptr) {
    return absl::InternalError(absl::StrCat("popen failed: ", command_line));
  }
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), pipe)) > 0) {
    out.append(buf, n);
  }
  int rc = ::pclose(pipe);
  if (rc != 0) {
    return absl::InternalError(absl::StrCat("command failed (", rc, "): ", command_line));
  }
  return out;
}

absl::StatusOr<ScopedNetns> ScopedNetns::Create(const std::string& label) {
  // Linux limits the name of a veth peer, not of a namespace; keep names short anyway.
  std::string name = absl::StrCat(kPrefix, ::getpid(), "-", counter.fetch_add(1), "-", label);
  if (absl::Status st = Run(absl::StrCat("ip netns add ", name)); !st.ok()) {
    return st;
  }
  ScopedNetns ns(name);
  if (absl::Status st = Run(absl::StrCat("ip -n ", name, " link set lo up")); !st.ok()) {
    return st;
  }
  return ns;
}

void ScopedNetns::RemoveStale() {
  DIR* dir = ::opendir("/run/netns");
  if (dir == nullptr) {
    return;
  }
  while (dirent* entry = ::readdir(dir)) {
    std::string name = entry->d_name;
    if (name.rfind(kPrefix, 0) != 0) {
      continue;
    }
    std::vector<std::string> parts = absl::StrSplit(name.substr(sizeof(kPrefix) - 1), '-');
    int pid = 0;
    if (parts.empty() || !absl::SimpleAtoi(parts[0], &pid)) {
      continue;
    }
    if (pid != ::getpid() && ::kill(pid, 0) != 0) {
      (void)Run(absl::StrCat("ip netns del ", name, " 2>/dev/null"));
    }
  }
  ::closedir(dir);
}

ScopedNetns::ScopedNetns(ScopedNetns&& other) noexcept : name_(std::exchange(other.name_, "")) {}

ScopedNetns& ScopedNetns::operator=(ScopedNetns&& other) noexcept {
  if (this != &other) {
    this->~ScopedNetns();
    name_ = std::exchange(other.name_, "");
  }
  return *this;
}

ScopedNetns::~ScopedNetns() {
  if (!name_.empty()) {
    (void)Run(absl::StrCat("ip netns del ", name_));
  }
}

}  // namespace probesnat::netfilter::testing
