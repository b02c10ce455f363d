#include "base/errno_status.h"

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "base/errno_text.h"

namespace probesnat::base {

absl::StatusCode ErrnoStatusCode(int err, ErrnoOrigin origin) {
  switch (err) {
    case EPERM:
    case EACCES:
      return absl::StatusCode::kFailedPrecondition;
    case ENOMEM:
    case EAGAIN:
    case EINTR:
    case EBUSY:
    case ENOBUFS:
    case ETIMEDOUT:
    case EIO:
      return absl::StatusCode::kUnavailable;
    case EMFILE:
    case ENFILE:
      return absl::StatusCode::kResourceExhausted;
    default:
      break;
  }
  if (origin == ErrnoOrigin::kCallerPath) {
    switch (err) {
      case ENOENT:
      case ENOTDIR:
      case ESRCH:
        return absl::StatusCode::kNotFound;
      case EINVAL:
      case ENAMETOOLONG:
      case ELOOP:
        return absl::StatusCode::kInvalidArgument;
      default:
        break;
    }
  }
  return absl::StatusCode::kUnavailable;
}

absl::Status ErrnoStatus(int err, ErrnoOrigin origin, absl::string_view what,
                         absl::string_view permission_hint) {
  std::string message = absl::StrCat(what, ": ", ErrnoText(err));
  if ((err == EPERM || err == EACCES) && !permission_hint.empty()) {
    absl::StrAppend(&message, "; ", permission_hint);
  }
  return absl::Status(ErrnoStatusCode(err, origin), message);
}

}  // namespace probesnat::base
