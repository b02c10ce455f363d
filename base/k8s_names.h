#pragma once

#include <cstddef>

#include "absl/strings/string_view.h"

// Kubernetes' name rules (k8s.io/apimachinery/pkg/util/validation) as predicates; callers word
// their own errors.
namespace probesnat {

inline constexpr size_t kMaxDns1123LabelLength = 63;
inline constexpr size_t kMaxDns1123SubdomainLength = 253;
inline constexpr size_t kMaxLabelNameLength = 63;  // a label key's name part, and a label value
inline constexpr size_t kMaxIanaServiceNameLength = 15;

// At most 63 characters of [a-z0-9-], starting and ending with [a-z0-9] (a namespace name).
bool IsDns1123Label(absl::string_view s);
// At most 253 characters: DNS-1123 labels (without their length limit) joined by '.' (a pod name).
bool IsDns1123Subdomain(absl::string_view s);
// [prefix/]name: the prefix a DNS-1123 subdomain, the name at most 63 characters of
// [A-Za-z0-9-_.] starting and ending with [A-Za-z0-9].
bool IsLabelKey(absl::string_view s);
// Empty, or like a label key's name.
bool IsLabelValue(absl::string_view s);
// IANA_SVC_NAME (a port name): at most 15 characters of [a-z0-9-], at least one letter, no
// leading, trailing or doubled '-'.
bool IsIanaServiceName(absl::string_view s);

}  // namespace probesnat
