#include "agent/daemon/uninstall_request.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "base/errno_text.h"
#include "base/unique_fd.h"

namespace probesnat::daemon {
namespace {

std::string Join(const std::string& dir, const char* name) {
  return absl::StrCat(dir == "/" ? "" : dir, "/", name);
}

std::string DirectoryOf(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) {
    return ".";
  }
  return slash == 0 ? "/" : path.substr(0, slash);
}

absl::Status SyncDirectory(const std::string& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid() || ::fsync(fd.get()) != 0) {
    return absl::InternalError(
        absl::StrCat("cannot sync directory ", dir, ": ", base::ErrnoText()));
  }
  return absl::OkStatus();
}

absl::Status WriteAll(int fd, const std::string& text, const std::string& path) {
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return absl::InternalError(absl::StrCat("cannot write ", path, ": ", base::ErrnoText()));
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    return absl::InternalError(absl::StrCat("cannot sync ", path, ": ", base::ErrnoText()));
  }
  return absl::OkStatus();
}

// A temporary file beside `path` holding `text`, synced; its name goes to `*tmp`.
absl::Status WriteTemporary(const std::string& path, const std::string& text, std::string* tmp) {
  std::string name =
      absl::StrCat(DirectoryOf(path), "/.", path.substr(path.rfind('/') + 1), ".XXXXXX");
  UniqueFd fd(::mkostemp(name.data(), O_CLOEXEC));
  if (!fd.valid()) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create a file in ", DirectoryOf(path), ": ", base::ErrnoText()));
  }
  *tmp = name;
  absl::Status st =
      ::fchmod(fd.get(), 0644) == 0
          ? WriteAll(fd.get(), text, name)
          : absl::InternalError(absl::StrCat("cannot chmod ", name, ": ", base::ErrnoText()));
  if (!st.ok()) {
    ::unlink(name.c_str());
  }
  return st;
}

}  // namespace

std::string UninstallRequestPath(const std::string& run_dir) {
  return Join(run_dir, kUninstallRequestName);
}

std::string UninstalledRecordPath(const std::string& run_dir) {
  return Join(run_dir, kUninstalledRecordName);
}

absl::StatusOr<std::optional<std::string>> ReadUninstallFile(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
  if (!fd.valid()) {
    if (errno == ENOENT) {
      return std::nullopt;
    }
    return absl::FailedPreconditionError(
        absl::StrCat("cannot open ", path, ": ", base::ErrnoText()));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(path, " is not a regular file"));
  }
  std::string text(kUninstallFileMaxBytes, '\0');
  ssize_t n = ::pread(fd.get(), text.data(), text.size(), 0);
  if (n < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot read ", path, ": ", base::ErrnoText()));
  }
  text.resize(static_cast<size_t>(n));
  return text;
}

absl::StatusOr<RecordedUninstallRequest> RecordUninstallRequest(const std::string& run_dir,
                                                                const std::string& text) {
  struct stat st {};
  if (::stat(run_dir.c_str(), &st) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("no run directory ", run_dir, ": ", base::ErrnoText()));
  }
  if (!S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat("run directory ", run_dir, " is not a directory"));
  }
  const std::string path = UninstallRequestPath(run_dir);
  std::string tmp;
  if (absl::Status written = WriteTemporary(path, text, &tmp); !written.ok()) {
    return written;
  }
  RecordedUninstallRequest out;
  // link() never replaces: an earlier request stays as it was.
  const bool linked = ::link(tmp.c_str(), path.c_str()) == 0;
  const int link_errno = errno;
  ::unlink(tmp.c_str());
  if (!linked && link_errno != EEXIST) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create ", path, ": ", base::ErrnoText(link_errno)));
  }
  out.already_present = !linked;
  if (absl::Status synced = SyncDirectory(run_dir); !synced.ok()) {
    return synced;
  }
  absl::StatusOr<std::optional<std::string>> now = ReadUninstallFile(path);
  if (!now.ok()) {
    return now.status();
  }
  out.text = now->value_or("");
  return out;
}

absl::Status WriteFileAtomically(const std::string& path, const std::string& text) {
  std::string tmp;
  if (absl::Status written = WriteTemporary(path, text, &tmp); !written.ok()) {
    return written;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    absl::Status st = absl::InternalError(
        absl::StrCat("cannot rename ", tmp, " to ", path, ": ", base::ErrnoText()));
    ::unlink(tmp.c_str());
    return st;
  }
  return SyncDirectory(DirectoryOf(path));
}

absl::Status RemoveFileIfPresent(const std::string& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return absl::InternalError(absl::StrCat("cannot remove ", path, ": ", base::ErrnoText()));
  }
  return absl::OkStatus();
}

}  // namespace probesnat::daemon
