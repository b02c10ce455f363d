#pragma once

#include <cstddef>
#include <string>

// Lets spdlog/fmt print absl::string_view (Debian's abseil has its own string_view type), e.g.
// status.message(), and prints client-supplied text safely (ClientText).
#include "absl/strings/string_view.h"
#include "fmt/format.h"

namespace probesnat::daemon {

// How many bytes of one client-supplied string a log line or an error message echoes.
inline constexpr size_t kEchoLimit = 256;

// `text` made safe to echo: every byte that is not printable ASCII, and '\\' and '"', becomes \xNN
// (so a client cannot start a new log line or send terminal escapes), and only the first `limit`
// bytes of `text` are kept, followed by "...(N bytes)" with the full size.
std::string EscapeClientText(absl::string_view text, size_t limit = kEchoLimit);

// How much of an error message (which may quote client text) a log line echoes.
inline constexpr size_t kLoggedMessageLimit = 2048;

// A client-supplied string for a log line: printed as EscapeClientText(text, limit) in quotes.
struct ClientText {
  absl::string_view text;
  size_t limit = kEchoLimit;
};

}  // namespace probesnat::daemon

template <>
struct fmt::formatter<absl::string_view> : fmt::formatter<fmt::string_view> {
  template <typename FormatContext>
  auto format(absl::string_view s, FormatContext& ctx) const {
    return fmt::formatter<fmt::string_view>::format(fmt::string_view(s.data(), s.size()), ctx);
  }
};

template <>
struct fmt::formatter<probesnat::daemon::ClientText> : fmt::formatter<fmt::string_view> {
  template <typename FormatContext>
  auto format(const probesnat::daemon::ClientText& t, FormatContext& ctx) const {
    std::string quoted = "\"" + probesnat::daemon::EscapeClientText(t.text, t.limit) + "\"";
    return fmt::formatter<fmt::string_view>::format(fmt::string_view(quoted), ctx);
  }
};
