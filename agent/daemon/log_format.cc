#include "agent/daemon/log_format.h"

#include "absl/strings/str_cat.h"

namespace probesnat::daemon {

std::string EscapeClientText(absl::string_view text, size_t limit) {
  static constexpr char kHex[] = "0123456789abcdef";
  const absl::string_view shown = text.substr(0, limit);
  std::string out;
  out.reserve(shown.size() + 16);
  for (char c : shown) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x20 && byte < 0x7f && c != '\\' && c != '"') {
      out.push_back(c);
    } else {
      out += {'\\', 'x', kHex[byte >> 4], kHex[byte & 0xf]};
    }
  }
  if (shown.size() < text.size()) {
    absl::StrAppend(&out, "...(", text.size(), " bytes)");
  }
  return out;
}

}  // namespace probesnat::daemon
