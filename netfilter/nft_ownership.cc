#include "netfilter/nft_ownership.h"

#include <libnftnl/udata.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace probesnat::netfilter {
namespace {

constexpr absl::string_view kPodTablePrefix = "probesnat pod ";
constexpr absl::string_view kGenerationWord = " generation ";

}  // namespace

absl::Status ValidateOwnerUid(absl::string_view uid) {
  // Room for the pod table's words around the uid.
  const size_t room = kMaxCommentBytes - kPodTablePrefix.size() - kGenerationWord.size() - 20;
  if (uid.size() > room) {
    return absl::InvalidArgumentError(
        absl::StrCat("owner uid \"", uid, "\" is longer than ", room, " bytes"));
  }
  if (uid.find('\0') != absl::string_view::npos || uid.find(' ') != absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("owner uid \"", uid, "\" contains a NUL byte or a space"));
  }
  return absl::OkStatus();
}

std::string EncodeComment(uint8_t type, absl::string_view comment) {
  if (comment.empty()) {
    return {};
  }
  nftnl_udata_buf* buf = nftnl_udata_buf_alloc(kMaxCommentBytes + 8);
  const std::string text(comment.substr(0, kMaxCommentBytes));
  std::string out;
  if (nftnl_udata_put_strz(buf, type, text.c_str())) {
    out.assign(static_cast<const char*>(nftnl_udata_buf_data(buf)), nftnl_udata_buf_len(buf));
  }
  nftnl_udata_buf_free(buf);
  return out;
}

std::string DecodeComment(uint8_t type, absl::string_view userdata) {
  // nft's TLVs: a type byte, a length byte, the value. Read with bounds checks, since anyone may
  // have written the data (libnftnl's parser trusts the lengths).
  std::string comment;
  size_t at = 0;
  while (at + 2 <= userdata.size()) {
    const uint8_t attr_type = static_cast<uint8_t>(userdata[at]);
    const size_t len = static_cast<uint8_t>(userdata[at + 1]);
    if (at + 2 + len > userdata.size()) {
      return {};
    }
    absl::string_view value = userdata.substr(at + 2, len);
    if (attr_type == type && !value.empty() && value.back() == '\0') {
      value.remove_suffix(1);
      if (value.find('\0') == absl::string_view::npos) {
        comment = std::string(value);
      }
    }
    at += 2 + len;
  }
  return comment;
}

std::string PodTableComment(const TableOwner& owner) {
  return absl::StrCat(kPodTablePrefix, owner.uid, kGenerationWord, owner.generation);
}

std::optional<TableOwner> ParsePodTableComment(absl::string_view comment) {
  if (!absl::ConsumePrefix(&comment, kPodTablePrefix)) {
    return std::nullopt;
  }
  const size_t at = comment.rfind(kGenerationWord);
  if (at == absl::string_view::npos || at == 0) {
    return std::nullopt;
  }
  TableOwner owner;
  owner.uid = std::string(comment.substr(0, at));
  if (owner.uid.find(' ') != std::string::npos ||
      !absl::SimpleAtoi(comment.substr(at + kGenerationWord.size()), &owner.generation)) {
    return std::nullopt;
  }
  return owner;
}

}  // namespace probesnat::netfilter
