#pragma once

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "grpcpp/support/status.h"
#include "probesnat/v1/probesnat.grpc.pb.h"

namespace probesnat::integration {

// Builds a Pod message.
probesnat::v1::Pod MakePod(const std::string& uid, const std::vector<std::string>& ips,
                           const std::string& netns_path, const std::string& name = "app");

// Thin synchronous helpers with a deadline on every call.
grpc::Status Enroll(probesnat::v1::Enrollment::Stub& stub, const probesnat::v1::Pod& pod,
                    probesnat::v1::EnrollResponse* response = nullptr,
                    absl::Duration timeout = absl::Seconds(10));
grpc::Status Unenroll(probesnat::v1::Enrollment::Stub& stub, const std::string& uid,
                      probesnat::v1::UnenrollResponse* response = nullptr,
                      absl::Duration timeout = absl::Seconds(10));
grpc::Status Sync(probesnat::v1::Enrollment::Stub& stub,
                  const std::vector<probesnat::v1::Pod>& pods,
                  probesnat::v1::SyncResponse* response = nullptr,
                  absl::Duration timeout = absl::Seconds(20));
grpc::Status List(probesnat::v1::Enrollment::Stub& stub, probesnat::v1::ListResponse* response,
                  absl::Duration timeout = absl::Seconds(10));

// "INVALID_ARGUMENT: message" for test output.
std::string Describe(const grpc::Status& status);

}  // namespace probesnat::integration
