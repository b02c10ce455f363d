#pragma once

#include <functional>
#include <string>

#include "absl/status/status.h"

namespace probesnat::netfilter::testing {

// Drops `cap` (CAP_SYS_PTRACE, ...) from the calling thread's effective set: the kernel checks
// only that set. Threads created afterwards inherit it. False if capget/capset fail.
bool DropEffectiveCapability(int cap);

// Runs `fn` in a forked child (so that dropped capabilities stay there) and returns its status as
// "<CODE> <message>", e.g. "FAILED_PRECONDITION cannot open ...".
std::string StatusInChild(const std::function<absl::Status()>& fn);

}  // namespace probesnat::netfilter::testing
