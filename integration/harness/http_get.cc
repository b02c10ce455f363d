#include "integration/harness/http_get.h"

#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace probesnat::integration {

std::string UrlEncode(const std::string& text) {
  std::string out;
  for (unsigned char c : text) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      absl::StrAppend(&out, "%", absl::Hex(c, absl::kZeroPad2));
    }
  }
  return out;
}

absl::StatusOr<HttpReply> HttpGet(int netns_fd, const Endpoint& to, const std::string& target,
                                  absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  ConnectOptions options;
  options.timeout = timeout;
  absl::StatusOr<Connection> c = Connect(netns_fd, to, options);
  if (!c.ok()) {
    return c.status();
  }
  const std::string request =
      absl::StrCat("GET ", target, " HTTP/1.0\r\nHost: ", to.ToString(), "\r\n\r\n");
  if (::send(c->fd.get(), request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    return absl::UnavailableError(absl::StrCat("send to ", to.ToString(), ": ",
                                               std::strerror(errno)));
  }
  std::string raw;
  char buf[16384];
  while (true) {
    const int left_ms = static_cast<int>(absl::ToInt64Milliseconds(deadline - absl::Now()));
    if (left_ms <= 0) {
      return absl::DeadlineExceededError(
          absl::StrCat("GET ", target, " from ", to.ToString(), ": no complete reply in time"));
    }
    pollfd p{c->fd.get(), POLLIN, 0};
    if (::poll(&p, 1, left_ms) <= 0) {
      continue;
    }
    ssize_t n = ::recv(c->fd.get(), buf, sizeof(buf), 0);
    if (n < 0) {
      return absl::UnavailableError(absl::StrCat("recv: ", std::strerror(errno)));
    }
    if (n == 0) {
      break;
    }
    raw.append(buf, n);
    if (raw.size() > (64u << 20)) {
      return absl::ResourceExhaustedError("reply larger than 64 MiB");
    }
  }
  const size_t end = raw.find("\r\n\r\n");
  if (end == std::string::npos) {
    return absl::DataLossError(absl::StrCat("GET ", target, ": no header end in reply: ", raw));
  }
  HttpReply reply;
  std::vector<std::string> lines = absl::StrSplit(raw.substr(0, end), "\r\n");
  std::vector<std::string> status_line = absl::StrSplit(lines[0], ' ');
  if (status_line.size() < 2 || !absl::SimpleAtoi(status_line[1], &reply.status)) {
    return absl::DataLossError(absl::StrCat("bad status line: ", lines[0]));
  }
  for (size_t i = 1; i < lines.size(); ++i) {
    const size_t colon = lines[i].find(':');
    if (colon != std::string::npos) {
      reply.headers[absl::AsciiStrToLower(lines[i].substr(0, colon))] =
          std::string(absl::StripAsciiWhitespace(lines[i].substr(colon + 1)));
    }
  }
  reply.body = raw.substr(end + 4);
  return reply;
}

}  // namespace probesnat::integration
