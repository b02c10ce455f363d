#include "integration/harness/enroll_client.h"

#include "absl/strings/str_cat.h"
#include "grpcpp/client_context.h"

namespace probesnat::integration {
namespace {

void SetDeadline(grpc::ClientContext& ctx, absl::Duration timeout) {
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
}

const char* CodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::OK:
      return "OK";
    case grpc::CANCELLED:
      return "CANCELLED";
    case grpc::UNKNOWN:
      return "UNKNOWN";
    case grpc::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case grpc::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::ALREADY_EXISTS:
      return "ALREADY_EXISTS";
    case grpc::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case grpc::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::ABORTED:
      return "ABORTED";
    case grpc::OUT_OF_RANGE:
      return "OUT_OF_RANGE";
    case grpc::UNIMPLEMENTED:
      return "UNIMPLEMENTED";
    case grpc::INTERNAL:
      return "INTERNAL";
    case grpc::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::DATA_LOSS:
      return "DATA_LOSS";
    case grpc::UNAUTHENTICATED:
      return "UNAUTHENTICATED";
    default:
      return "?";
  }
}

}  // namespace

probesnat::v1::Pod MakePod(const std::string& uid, const std::vector<std::string>& ips,
                           const std::string& netns_path, const std::string& name) {
  probesnat::v1::Pod pod;
  pod.set_uid(uid);
  pod.set_namespace_("default");
  pod.set_name(name);
  (*pod.mutable_labels())["app"] = name;
  for (const std::string& ip : ips) {
    pod.add_ips(ip);
  }
  pod.set_netns_path(netns_path);
  probesnat::v1::ContainerPort* port = pod.add_container_ports();
  port->set_name("http");
  port->set_port(8080);
  port->set_protocol("TCP");
  pod.add_probe_ports(8080);
  return pod;
}

grpc::Status Enroll(probesnat::v1::Enrollment::Stub& stub, const probesnat::v1::Pod& pod,
                    probesnat::v1::EnrollResponse* response, absl::Duration timeout) {
  grpc::ClientContext ctx;
  SetDeadline(ctx, timeout);
  probesnat::v1::EnrollRequest req;
  *req.mutable_pod() = pod;
  probesnat::v1::EnrollResponse local;
  return stub.Enroll(&ctx, req, response != nullptr ? response : &local);
}

grpc::Status Unenroll(probesnat::v1::Enrollment::Stub& stub, const std::string& uid,
                      probesnat::v1::UnenrollResponse* response, absl::Duration timeout) {
  grpc::ClientContext ctx;
  SetDeadline(ctx, timeout);
  probesnat::v1::UnenrollRequest req;
  req.set_uid(uid);
  probesnat::v1::UnenrollResponse local;
  return stub.Unenroll(&ctx, req, response != nullptr ? response : &local);
}

grpc::Status Sync(probesnat::v1::Enrollment::Stub& stub,
                  const std::vector<probesnat::v1::Pod>& pods,
                  probesnat::v1::SyncResponse* response, absl::Duration timeout) {
  grpc::ClientContext ctx;
  SetDeadline(ctx, timeout);
  probesnat::v1::SyncRequest req;
  for (const probesnat::v1::Pod& p : pods) {
    *req.add_pods() = p;
  }
  probesnat::v1::SyncResponse local;
  return stub.Sync(&ctx, req, response != nullptr ? response : &local);
}

grpc::Status List(probesnat::v1::Enrollment::Stub& stub, probesnat::v1::ListResponse* response,
                  absl::Duration timeout) {
  grpc::ClientContext ctx;
  SetDeadline(ctx, timeout);
  return stub.List(&ctx, probesnat::v1::ListRequest(), response);
}

std::string Describe(const grpc::Status& status) {
  return absl::StrCat(CodeName(status.error_code()), ": ", status.error_message());
}

}  // namespace probesnat::integration
