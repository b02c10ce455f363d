#include "netfilter/cgroup_v2.h"

#include <sys/stat.h>

#include <cerrno>
#include <fstream>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "base/errno_status.h"

namespace probesnat::netfilter {
namespace {

// nft names a cgroup by its path below /sys/fs/cgroup.
std::string NftPath(const std::string& cgroup_root, const std::string& path) {
  constexpr absl::string_view kNftRoot = "/sys/fs/cgroup";
  absl::string_view root = cgroup_root;
  if (root == kNftRoot) {
    return path;
  }
  if (absl::ConsumePrefix(&root, kNftRoot) && absl::StartsWith(root, "/")) {
    return absl::StrCat(absl::StripPrefix(root, "/"), "/", path);
  }
  return path;
}

}  // namespace

absl::StatusOr<std::string> FindCgroup2Root(const std::string& mountinfo) {
  std::ifstream in(mountinfo);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("cannot read ", mountinfo));
  }
  std::string line;
  while (std::getline(in, line)) {
    // id parent major:minor root mount-point options [optional fields] - type source options
    std::vector<std::string> fields = absl::StrSplit(line, ' ');
    size_t dash = 0;
    while (dash < fields.size() && fields[dash] != "-") {
      ++dash;
    }
    if (fields.size() < 5 || dash + 1 >= fields.size()) {
      continue;
    }
    if (fields[dash + 1] == "cgroup2" && fields[3] == "/") {
      return fields[4];
    }
  }
  return absl::NotFoundError(absl::StrCat("no cgroup v2 hierarchy mounted (", mountinfo, ")"));
}

absl::StatusOr<KubeletCgroup> ResolveCgroup(const std::string& cgroup_root,
                                                       const std::string& path) {
  const std::string relative(absl::StripSuffix(absl::StripPrefix(path, "/"), "/"));
  KubeletCgroup cgroup;
  cgroup.path = relative;
  cgroup.nft_path = NftPath(cgroup_root, relative);
  for (absl::string_view part : absl::StrSplit(relative, '/', absl::SkipEmpty())) {
    if (part == "." || part == "..") {
      return absl::InvalidArgumentError(absl::StrCat("cgroup path ", path, " has ", part));
    }
    ++cgroup.level;
  }
  if (cgroup.level == 0) {
    return absl::InvalidArgumentError("the root cgroup holds every process: not a kubelet cgroup");
  }
  const std::string dir = absl::StrCat(cgroup_root, "/", relative);
  struct stat st {};
  if (stat(dir.c_str(), &st) != 0) {
    return base::ErrnoStatus(errno, base::ErrnoOrigin::kCallerPath, absl::StrCat("cgroup ", dir));
  }
  if (!S_ISDIR(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat("cgroup ", dir, " is not a directory"));
  }
  cgroup.id = st.st_ino;
  return cgroup;
}

}  // namespace probesnat::netfilter
