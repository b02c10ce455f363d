#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "netfilter/backend.h"

namespace probesnat::netfilter {

// The comments that say whom our kernel objects belong to, in the user-data format nft(8) uses
// (one NUL-terminated string under the comment type), so that `nft list` shows them:
//   host set element   comment "<pod uid>"
//   pod table          comment "probesnat pod <pod uid> generation <n>"

// nft refuses to list comments longer than this (NFTNL_UDATA_COMMENT_MAXLEN, NUL included).
inline constexpr size_t kMaxCommentBytes = 127;

// INVALID_ARGUMENT when `uid` cannot be written as (part of) a comment: too long or with a NUL.
absl::Status ValidateOwnerUid(absl::string_view uid);

// User data holding `comment` under the TLV type `type`; empty for an empty comment.
std::string EncodeComment(uint8_t type, absl::string_view comment);
// The comment of type `type` in `userdata`; empty if there is none or the data is not nft's
// format.
std::string DecodeComment(uint8_t type, absl::string_view userdata);

// "probesnat pod <uid> generation <n>", and back (nullopt for any other text).
std::string PodTableComment(const TableOwner& owner);
std::optional<TableOwner> ParsePodTableComment(absl::string_view comment);

}  // namespace probesnat::netfilter
