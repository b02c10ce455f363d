#pragma once

#include <cerrno>
#include <cstring>
#include <string>

namespace probesnat::base {

// The text of an errno value ("No such file or directory"), for error messages.
inline std::string ErrnoText(int err) { return std::strerror(err); }

// The text of the current errno.
inline std::string ErrnoText() { return ErrnoText(errno); }

}  // namespace probesnat::base
