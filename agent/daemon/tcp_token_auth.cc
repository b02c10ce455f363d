#include "agent/daemon/tcp_token_auth.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "agent/daemon/log_format.h"
#include "base/unique_fd.h"
#include "spdlog/spdlog.h"

namespace probesnat::daemon {
namespace {

constexpr size_t kMinTokenBytes = 16;
constexpr size_t kMaxTokenBytes = 4096;
constexpr char kBearerPrefix[] = "Bearer ";

absl::Status BadTokenFile(const std::string& path, absl::string_view problem) {
  return absl::InvalidArgumentError(
      absl::StrCat("invalid listen-tcp-token-file \"", path, "\": ", problem));
}

class BearerTokenProcessor : public grpc::AuthMetadataProcessor {
 public:
  explicit BearerTokenProcessor(std::string token) : expected_(kBearerPrefix + token) {}

  grpc::Status Process(const InputMetadata& auth_metadata, grpc::AuthContext* /*context*/,
                       OutputMetadata* consumed_auth_metadata,
                       OutputMetadata* /*response_metadata*/) override {
    auto it = auth_metadata.find("authorization");
    if (it != auth_metadata.end() &&
        ConstantTimeEquals(absl::string_view(it->second.data(), it->second.size()), expected_)) {
      consumed_auth_metadata->emplace("authorization", "");
      return grpc::Status::OK;
    }
    LogRefusal(it == auth_metadata.end());
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        "probesnatd over TCP needs metadata \"authorization: Bearer <token>\" "
                        "with the token of --listen-tcp-token-file");
  }

 private:
  void LogRefusal(bool missing) {
    std::lock_guard<std::mutex> lock(mu_);
    absl::Time now = absl::Now();
    if (now - window_start_ >= absl::Seconds(1)) {
      window_start_ = now;
      in_window_ = 0;
    }
    if (++in_window_ <= 10) {
      spdlog::warn("refused a TCP call: {} bearer token", missing ? "no" : "wrong");
    }
  }

  const std::string expected_;
  std::mutex mu_;
  absl::Time window_start_ = absl::InfinitePast();
  int in_window_ = 0;
};

}  // namespace

bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  const size_t n = std::max(a.size(), b.size());
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < n; ++i) {
    unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= x ^ y;
  }
  return diff == 0;
}

absl::StatusOr<std::string> LoadBearerToken(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (!fd.valid()) {
    return BadTokenFile(path, absl::StrCat("cannot open: ", std::strerror(errno)));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return BadTokenFile(path, "not a regular file");
  }
  if (st.st_uid != 0 && st.st_uid != ::geteuid()) {
    return BadTokenFile(path,
                        absl::StrCat("owned by uid ", st.st_uid, "; it must be owned by root"));
  }
  if ((st.st_mode & 077) != 0) {
    return BadTokenFile(path, absl::StrFormat("mode %04o lets group or others read or change it; "
                                              "use chmod 0600",
                                              st.st_mode & 07777));
  }
  if (st.st_size > static_cast<off_t>(kMaxTokenBytes + 64)) {
    return BadTokenFile(path, "larger than a token");
  }
  std::string text(static_cast<size_t>(st.st_size), '\0');
  ssize_t n = ::pread(fd.get(), text.data(), text.size(), 0);
  if (n < 0) {
    return BadTokenFile(path, absl::StrCat("cannot read: ", std::strerror(errno)));
  }
  text.resize(static_cast<size_t>(n));
  std::string token(absl::StripAsciiWhitespace(text));
  if (token.size() < kMinTokenBytes || token.size() > kMaxTokenBytes) {
    return BadTokenFile(path, absl::StrCat("the token must be ", kMinTokenBytes, " to ",
                                           kMaxTokenBytes, " characters, not ", token.size()));
  }
  if (!std::all_of(token.begin(), token.end(), [](char c) { return c > 0x20 && c < 0x7f; })) {
    return BadTokenFile(path, "the token must be visible ASCII characters without spaces");
  }
  return token;
}

std::shared_ptr<grpc::AuthMetadataProcessor> MakeBearerTokenProcessor(std::string token) {
  return std::make_shared<BearerTokenProcessor>(std::move(token));
}

}  // namespace probesnat::daemon
