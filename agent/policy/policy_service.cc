#include "agent/policy/policy_service.h"

#include "absl/strings/str_cat.h"
#include "agent/domain/wire.h"
#include "agent/policy/manifest_loader.h"
#include "base/port.h"

namespace probesnat::policy {

namespace {

grpc::Status ToGrpc(const absl::Status& s) {
  grpc::StatusCode code = grpc::StatusCode::INTERNAL;
  if (s.code() == absl::StatusCode::kInvalidArgument) {
    code = grpc::StatusCode::INVALID_ARGUMENT;
  } else if (s.code() == absl::StatusCode::kCancelled) {
    code = grpc::StatusCode::CANCELLED;
  }
  return grpc::Status(code, std::string(s.message()));
}

}  // namespace

grpc::Status PolicyServiceImpl::ReplaceSnapshot(grpc::ServerContext* context,
                                                const v1::ReplacePolicySnapshotRequest* request,
                                                v1::ReplacePolicySnapshotResponse* response) {
  // A caller that gave up (deadline, cancel) stops the load: its snapshot would not be used.
  ManifestLoaderOptions options;
  if (context != nullptr) {
    options.cancelled = [context] { return context->IsCancelled(); };
  }
  ManifestLoader loader(std::move(options));
  for (int i = 0; i < request->manifests_size(); ++i) {
    absl::Status s = loader.AddText(request->manifests(i), absl::StrCat("manifests[", i, "]"));
    if (!s.ok()) {
      return ToGrpc(s);
    }
  }
  for (const LoadProblem& p : loader.problems()) {
    response->add_problems(p.ToString());
  }
  if (context != nullptr && context->IsCancelled()) {
    return grpc::Status(grpc::StatusCode::CANCELLED, "cancelled by the caller; snapshot unchanged");
  }
  Cluster cluster = loader.TakeCluster();
  response->set_namespaces(static_cast<uint32_t>(cluster.namespaces.size()));
  response->set_pods(static_cast<uint32_t>(cluster.pods.size()));
  response->set_policies(static_cast<uint32_t>(cluster.policies.size()));
  gate_->SetSnapshot(std::move(cluster));
  return grpc::Status::OK;
}

grpc::Status PolicyServiceImpl::Check(grpc::ServerContext*, const v1::CheckRequest* request,
                                      v1::CheckResponse* response) {
  if (!request->has_pod()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "pod is required");
  }
  absl::StatusOr<agent::PodSpec> pod = agent::PodFromWire(request->pod());
  if (!pod.ok()) {
    return ToGrpc(pod.status());
  }
  std::vector<uint16_t> extra;
  for (uint32_t port : request->probe_ports()) {
    if (!IsPort(port)) {
      return ToGrpc(absl::InvalidArgumentError(
          absl::StrCat("probe_ports: ", port, " is not a port number 1-65535")));
    }
    extra.push_back(static_cast<uint16_t>(port));
  }
  absl::StatusOr<std::vector<Finding>> findings = gate_->CheckPod(*pod, extra);
  if (!findings.ok()) {
    return ToGrpc(findings.status());
  }
  bool compatible = true;
  for (Finding& f : *findings) {
    if (agent::IsBlocking(f)) {
      compatible = false;
    }
    *response->add_findings() = agent::FindingToWire(std::move(f));
  }
  response->set_compatible(compatible);
  return grpc::Status::OK;
}

}  // namespace probesnat::policy
