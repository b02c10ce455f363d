#pragma once

#include <string>

#include "base/ip_address.h"

namespace probesnat::daemon::testing {

// An address written in a test; the text is known to parse.
inline IpAddress Ip(const std::string& text) { return *IpAddress::Parse(text); }

}  // namespace probesnat::daemon::testing
