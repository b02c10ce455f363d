#include "agent/daemon/run_directory.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "base/errno_text.h"

namespace probesnat::daemon {
namespace {

constexpr char kLockFileName[] = "probesnatd.lock";

std::string ModeAndOwner(const struct stat& st) {
  return absl::StrFormat("mode %04o, owner uid %d gid %d", st.st_mode & 07777, st.st_uid,
                         st.st_gid);
}

// The pid written in the lock file by its holder. The holder writes it right after taking the lock,
// so a loser that reads too early (nothing yet, or a dead previous holder's pid) waits a moment.
std::string HolderPid(int fd) {
  const absl::Time deadline = absl::Now() + absl::Milliseconds(500);
  while (true) {
    char buf[32] = {};
    ssize_t n = ::pread(fd, buf, sizeof(buf) - 1, 0);
    int pid = 0;
    if (n > 0 && absl::SimpleAtoi(absl::StripAsciiWhitespace(absl::string_view(buf, n)), &pid) &&
        pid > 0 && (::kill(pid, 0) == 0 || errno == EPERM)) {
      return absl::StrCat(pid);
    }
    if (absl::Now() >= deadline) {
      return "unknown";
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
}

}  // namespace

std::string ParentDirectory(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) {
    return ".";
  }
  return slash == 0 ? "/" : path.substr(0, slash);
}

absl::Status MakeDirectories(const std::string& dir) {
  std::string path = dir + "/";
  for (size_t pos = path.find('/', 1); pos != std::string::npos; pos = path.find('/', pos + 1)) {
    std::string part = path.substr(0, pos);
    if (::mkdir(part.c_str(), 0700) != 0 && errno != EEXIST) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot create directory ", part, ": ", base::ErrnoText()));
    }
  }
  return absl::OkStatus();
}

namespace {

bool TrustedDirectory(const struct stat& st, uid_t me) {
  bool trusted_owner = st.st_uid == 0 || st.st_uid == me;
  bool others_write = (st.st_mode & (S_IWGRP | S_IWOTH)) != 0;
  return trusted_owner && (!others_write || (st.st_mode & S_ISVTX) != 0);
}

// The symlinks on the path as given, which realpath() hides: the socket directory itself must not
// be one, and one above it must be owned by root (or this uid) in a directory no other user can
// change; otherwise its owner could point the socket path elsewhere between this check and bind().
absl::Status CheckSymlinksOnTheWay(const std::string& dir, uid_t me) {
  struct stat st {};
  if (::lstat(dir.c_str(), &st) == 0 && S_ISLNK(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "socket directory ", dir, " is a symlink (owner uid ", st.st_uid,
        "); give the directory itself, e.g. /run/probesnat"));
  }
  for (std::string up = ParentDirectory(dir); up != "/" && up != ".";
       up = ParentDirectory(up)) {
    if (::lstat(up.c_str(), &st) != 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot stat ", up, ": ", base::ErrnoText()));
    }
    if (!S_ISLNK(st.st_mode)) {
      continue;
    }
    struct stat holder {};
    const std::string where = ParentDirectory(up);
    if (st.st_uid != 0 && st.st_uid != me) {
      return absl::FailedPreconditionError(
          absl::StrCat("symlink ", up, " above the socket directory ", dir, " is owned by uid ",
                       st.st_uid, ", who could point it elsewhere; it must be owned by root"));
    }
    if (::stat(where.c_str(), &holder) != 0 || !TrustedDirectory(holder, me)) {
      return absl::FailedPreconditionError(
          absl::StrCat("symlink ", up, " above the socket directory ", dir, " lies in ", where,
                       ", which another user can change; it must be owned by root and not "
                       "writable by group or others unless sticky"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckPrivateDirectory(const std::string& dir) {
  if (absl::Status st = CheckSymlinksOnTheWay(dir, ::geteuid()); !st.ok()) {
    return st;
  }
  char* resolved = ::realpath(dir.c_str(), nullptr);
  if (resolved == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot resolve directory ", dir, ": ", base::ErrnoText()));
  }
  const std::string real(resolved);
  std::free(resolved);
  const uid_t me = ::geteuid();
  struct stat st {};
  if (::stat(real.c_str(), &st) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot stat ", real, ": ", base::ErrnoText()));
  }
  const std::string shown = real == dir ? dir : absl::StrCat(dir, " (", real, ")");
  if (!S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat("socket directory ", shown, " is not a directory"));
  }
  if (st.st_uid != me || (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "socket directory ", shown, " (", ModeAndOwner(st), ") must be owned by uid ", me,
        " and not writable by group or others: anyone who can write it can replace the socket; "
        "use a directory like /run/probesnat (mode 0700 or 0755, owned by root)"));
  }
  // Every ancestor: whoever can rename entries in it can swap the socket directory.
  for (std::string up = ParentDirectory(real);; up = ParentDirectory(up)) {
    if (::stat(up.c_str(), &st) != 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot stat ", up, ": ", base::ErrnoText()));
    }
    if (!TrustedDirectory(st, me)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "directory ", up, " above the socket directory ", shown, " (", ModeAndOwner(st),
          ") lets another user replace the socket directory; it must be owned by root (or uid ", me,
          ") and not writable by group or others unless sticky"));
    }
    if (up == "/") {
      break;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<RunDirectoryLock>> RunDirectoryLock::Acquire(
    const std::string& socket_path) {
  const std::string dir = ParentDirectory(socket_path);
  if (absl::Status st = MakeDirectories(dir); !st.ok()) {
    return st;
  }
  if (absl::Status st = CheckPrivateDirectory(dir); !st.ok()) {
    return st;
  }
  std::string path = absl::StrCat(dir == "/" ? "" : dir, "/", kLockFileName);
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0600));
  if (!fd.valid()) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot open lock file ", path, ": ", base::ErrnoText()));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != ::geteuid()) {
    return absl::FailedPreconditionError(
        absl::StrCat("lock file ", path, " is not a regular file owned by uid ", ::geteuid()));
  }
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return absl::FailedPreconditionError(
          absl::StrCat("another probesnatd (pid ", HolderPid(fd.get()), ") holds ", path,
                       " and serves ", socket_path, "; refusing to start"));
    }
    return absl::FailedPreconditionError(
        absl::StrCat("cannot lock ", path, ": ", base::ErrnoText()));
  }
  std::string pid = absl::StrCat(::getpid(), "\n");
  if (::ftruncate(fd.get(), 0) != 0 ||
      ::pwrite(fd.get(), pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot write ", path, ": ", base::ErrnoText()));
  }
  return std::unique_ptr<RunDirectoryLock>(new RunDirectoryLock(std::move(fd), std::move(path)));
}

}  // namespace probesnat::daemon
