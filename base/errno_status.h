#pragma once

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace probesnat::base {

// Who an errno is about, which decides what the caller of an RPC should do about it.
enum class ErrnoOrigin {
  // Resolving a path the caller gave (a pod's network namespace path): "nothing there" and "not a
  // valid path" are the caller's to fix.
  kCallerPath,
  // A syscall or kernel request the agent makes on its own (setns, a netlink transaction): no
  // errno there is the caller's mistake.
  kAgentCall,
};

// The one errno → canonical code mapping (netns open/stat/setns, netlink answers):
//   EPERM, EACCES            FAILED_PRECONDITION  the agent lacks a privilege (a capability, an
//                                                 LSM): retrying fails until the deployment is
//                                                 fixed
//   ENOMEM, EAGAIN, EINTR,   UNAVAILABLE          transient: retry
//   EBUSY, ENOBUFS, ETIMEDOUT, EIO
//   EMFILE, ENFILE           RESOURCE_EXHAUSTED   the agent is out of descriptors: retry later
//   with kCallerPath only:
//   ENOENT, ENOTDIR, ESRCH   NOT_FOUND            nothing at the path (or its process is gone)
//   EINVAL, ENAMETOOLONG,    INVALID_ARGUMENT     the path itself is wrong
//   ELOOP
//   anything else            UNAVAILABLE          a kernel failure (DESIGN.md: UNAVAILABLE)
// Never INVALID_ARGUMENT for kAgentCall: that code tells a caller never to retry its request.
absl::StatusCode ErrnoStatusCode(int err, ErrnoOrigin origin);

// `what: <strerror>` with ErrnoStatusCode's code; for EPERM/EACCES `permission_hint` (which
// privilege the operation needs) follows as `; <hint>`.
absl::Status ErrnoStatus(int err, ErrnoOrigin origin, absl::string_view what,
                         absl::string_view permission_hint = "");

}  // namespace probesnat::base
