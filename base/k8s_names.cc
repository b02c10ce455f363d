#include "base/k8s_names.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"

namespace probesnat {
namespace {

bool IsLowerAlnum(char c) { return absl::ascii_islower(c) || absl::ascii_isdigit(c); }

// [a-z0-9]([-a-z0-9]*[a-z0-9])? without the length limit.
bool IsDns1123LabelText(absl::string_view s) {
  if (s.empty() || !IsLowerAlnum(s.front()) || !IsLowerAlnum(s.back())) {
    return false;
  }
  return std::all_of(s.begin(), s.end(), [](char c) { return IsLowerAlnum(c) || c == '-'; });
}

// ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]: a label key's name, a non-empty label value.
bool IsLabelName(absl::string_view s) {
  auto alnum = [](char c) { return absl::ascii_isalnum(c); };
  if (s.empty() || s.size() > kMaxLabelNameLength || !alnum(s.front()) || !alnum(s.back())) {
    return false;
  }
  return std::all_of(s.begin(), s.end(),
                     [&](char c) { return alnum(c) || c == '-' || c == '_' || c == '.'; });
}

}  // namespace

bool IsDns1123Label(absl::string_view s) {
  return s.size() <= kMaxDns1123LabelLength && IsDns1123LabelText(s);
}

bool IsDns1123Subdomain(absl::string_view s) {
  if (s.empty() || s.size() > kMaxDns1123SubdomainLength) {
    return false;
  }
  for (absl::string_view label : absl::StrSplit(s, '.')) {
    if (!IsDns1123LabelText(label)) {
      return false;
    }
  }
  return true;
}

bool IsLabelKey(absl::string_view s) {
  size_t slash = s.find('/');
  if (slash == absl::string_view::npos) {
    return IsLabelName(s);
  }
  return IsDns1123Subdomain(s.substr(0, slash)) && IsLabelName(s.substr(slash + 1));
}

bool IsLabelValue(absl::string_view s) { return s.empty() || IsLabelName(s); }

bool IsIanaServiceName(absl::string_view s) {
  if (s.empty() || s.size() > kMaxIanaServiceNameLength || s.front() == '-' || s.back() == '-' ||
      absl::StrContains(s, "--")) {
    return false;
  }
  bool has_letter = false;
  for (char c : s) {
    if (!IsLowerAlnum(c) && c != '-') {
      return false;
    }
    has_letter |= absl::ascii_islower(c);
  }
  return has_letter;
}

}  // namespace probesnat
