#pragma once

#include <string>

#include "absl/strings/string_view.h"

namespace probesnat::metrics {

// The pieces of the Prometheus text exposition format 0.0.4.

// [a-zA-Z_:][a-zA-Z0-9_:]*
bool IsValidMetricName(absl::string_view name);
// [a-zA-Z_][a-zA-Z0-9_]*, not starting with "__" (reserved for Prometheus itself).
bool IsValidLabelName(absl::string_view name);

// A label value between double quotes: backslash, double quote and line feed escaped as \\, \"
// and \n. Other bytes are kept (label values are UTF-8).
std::string EscapeLabelValue(absl::string_view value);
// A HELP text: backslash and line feed escaped as \\ and \n.
std::string EscapeHelp(absl::string_view help);
// A sample value or a bucket bound: integers without exponent up to 2^53, other values in the
// shortest form that reads back exactly, and "+Inf", "-Inf", "NaN".
std::string FormatValue(double value);

}  // namespace probesnat::metrics
