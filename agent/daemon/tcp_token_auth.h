#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "grpcpp/security/auth_metadata_processor.h"

namespace probesnat::daemon {

// Reads the bearer token TCP clients must send (`authorization: Bearer <token>`). The file must be
// a regular file owned by root (or the agent's uid) that grants nothing to group and others (e.g.
// mode 0600 or 0400); surrounding whitespace is dropped; the token must be 16 to 4096 visible ASCII
// characters. INVALID_ARGUMENT naming --listen-tcp-token-file and the path otherwise.
absl::StatusOr<std::string> LoadBearerToken(const std::string& path);

// Equal contents, in a time that depends only on the lengths.
bool ConstantTimeEquals(absl::string_view a, absl::string_view b);

// Accepts a call only when its `authorization` metadata is "Bearer <token>"; UNAUTHENTICATED
// otherwise (refusals are logged, at most a few lines a second).
std::shared_ptr<grpc::AuthMetadataProcessor> MakeBearerTokenProcessor(std::string token);

}  // namespace probesnat::daemon
