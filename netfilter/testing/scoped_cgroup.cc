#include "netfilter/testing/scoped_cgroup.h"

#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "netfilter/cgroup_v2.h"

namespace probesnat::netfilter::testing {
namespace {

constexpr char kPrefix[] = "probesnat-test-";

// Kills what is in `dir` (and below), then removes the directories deepest first.
void RemoveTree(const std::string& dir) {
  if (DIR* d = opendir(dir.c_str()); d != nullptr) {
    std::vector<std::string> children;
    while (dirent* e = readdir(d)) {
      if (e->d_type == DT_DIR && std::strcmp(e->d_name, ".") != 0 &&
          std::strcmp(e->d_name, "..") != 0) {
        children.push_back(dir + "/" + e->d_name);
      }
    }
    closedir(d);
    for (const std::string& c : children) {
      RemoveTree(c);
    }
  }
  std::ofstream(dir + "/cgroup.kill") << "1";
  for (int i = 0; i < 200 && ::rmdir(dir.c_str()) != 0 && errno == EBUSY; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

}  // namespace

absl::StatusOr<ScopedCgroup> ScopedCgroup::Create(const std::string& label,
                                                  const std::string& below) {
  absl::StatusOr<std::string> root = FindCgroup2Root("/proc/self/mountinfo");
  if (!root.ok()) {
    return root.status();
  }
  std::string top = absl::StrCat(kPrefix, ::getpid(), "-", label);
  ScopedCgroup cgroup(*root, top, below.empty() ? top : absl::StrCat(top, "/", below));
  if (absl::Status st = cgroup.MakeDirectories(); !st.ok()) {
    return st;
  }
  return cgroup;
}

absl::Status ScopedCgroup::MakeDirectories() const {
  std::string dir = root_;
  for (absl::string_view part : absl::StrSplit(path_, '/', absl::SkipEmpty())) {
    absl::StrAppend(&dir, "/", part);
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
      return absl::InternalError(absl::StrCat("mkdir ", dir, ": ", std::strerror(errno)));
    }
  }
  return absl::OkStatus();
}

void ScopedCgroup::RemoveStale() {
  absl::StatusOr<std::string> root = FindCgroup2Root("/proc/self/mountinfo");
  if (!root.ok()) {
    return;
  }
  DIR* d = opendir(root->c_str());
  if (d == nullptr) {
    return;
  }
  std::vector<std::string> stale;
  while (dirent* e = readdir(d)) {
    absl::string_view name = e->d_name;
    if (!absl::ConsumePrefix(&name, kPrefix)) {
      continue;
    }
    int pid = 0;
    if (absl::SimpleAtoi(name.substr(0, name.find('-')), &pid) && pid != ::getpid() &&
        ::kill(pid, 0) != 0 && errno == ESRCH) {
      stale.push_back(*root + "/" + e->d_name);
    }
  }
  closedir(d);
  for (const std::string& s : stale) {
    RemoveTree(s);
  }
}

ScopedCgroup::ScopedCgroup(ScopedCgroup&& other) noexcept
    : root_(std::move(other.root_)), top_(std::move(other.top_)), path_(std::move(other.path_)) {
  other.top_.clear();
}

ScopedCgroup::~ScopedCgroup() {
  if (!top_.empty()) {
    RemoveTree(root_ + "/" + top_);
  }
}

absl::Status ScopedCgroup::Enter(pid_t pid) const {
  std::ofstream procs(directory() + "/cgroup.procs");
  procs << pid;
  procs.flush();
  if (!procs) {
    return absl::InternalError(absl::StrCat("moving ", pid, " into ", directory()));
  }
  return absl::OkStatus();
}

absl::Status ScopedCgroup::Remove() {
  RemoveTree(directory());
  struct stat st {};
  if (::stat(directory().c_str(), &st) == 0) {
    return absl::InternalError(absl::StrCat("cannot remove ", directory()));
  }
  return absl::OkStatus();
}

absl::Status ScopedCgroup::Recreate() {
  if (absl::Status st = Remove(); !st.ok()) {
    return st;
  }
  return MakeDirectories();
}

}  // namespace probesnat::netfilter::testing
