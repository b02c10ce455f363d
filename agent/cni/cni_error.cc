#include "agent/cni/cni_error.h"

#include <optional>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace probesnat::cni {
namespace {

constexpr char kCodePayload[] = "type.probesnat.io/cni-code";
constexpr char kDetailsPayload[] = "type.probesnat.io/cni-details";

}  // namespace

absl::Status CniStatus(CniCode code, absl::string_view msg, absl::string_view details) {
  absl::Status status(code == CniCode::kInvalidConfig || code == CniCode::kDecodeFailure ||
                              code == CniCode::kInvalidEnvironment ||
                              code == CniCode::kUnsupportedField
                          ? absl::StatusCode::kInvalidArgument
                          : absl::StatusCode::kFailedPrecondition,
                      msg);
  status.SetPayload(kCodePayload, absl::Cord(absl::StrCat(static_cast<int>(code))));
  if (!details.empty()) {
    status.SetPayload(kDetailsPayload, absl::Cord(details));
  }
  return status;
}

CniError ToCniError(const absl::Status& status) {
  CniError error;
  error.msg = std::string(status.message());
  auto code = status.GetPayload(kCodePayload);
  int value = 0;
  if (code.has_value() && absl::SimpleAtoi(std::string(*code), &value)) {
    error.code = static_cast<CniCode>(value);
  } else {
    error.code = status.code() == absl::StatusCode::kInvalidArgument ? CniCode::kInvalidConfig
                                                                      : CniCode::kIoFailure;
  }
  if (auto details = status.GetPayload(kDetailsPayload);
      details.has_value()) {
    error.details = std::string(*details);
  }
  return error;
}

std::string ErrorJson(absl::string_view cni_version, const CniError& error) {
  nlohmann::ordered_json doc;
  doc["cniVersion"] = std::string(cni_version);
  doc["code"] = static_cast<int>(error.code);
  doc["msg"] = error.msg;
  doc["details"] = error.details;
  // Invalid UTF-8 from a hostile input is replaced rather than aborting the dump.
  return doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace probesnat::cni
