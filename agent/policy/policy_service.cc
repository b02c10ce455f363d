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
  std::string source = "Policy.ReplaceSnapshot";
  if (context != nullptr && !context->peer().empty()) {
    absl::StrAppend(&source, " from ", context->peer());
  }
  gate_->SetSnapshot(std::move(cluster), std::move(source));
  return grpc::Status::OK;
}

grpc::Status PolicyServiceImpl::GetSnapshotStatus(grpc::ServerContext*,
                                                  const v1::GetPolicySnapshotStatusRequest*,
                                                  v1::PolicySnapshotStatus* response) {
  const agent::PolicySnapshotInfo info = gate_->Snapshot();
  response->set_loaded(info.loaded);
  response->set_policy_mode(policy_mode_);
  response->set_enroll_refused(!info.loaded && policy_mode_ == v1::POLICY_MODE_ENFORCE);
  if (!info.loaded) {
    return grpc::Status::OK;
  }
  const absl::Duration since = absl::Now() - info.loaded_at;
  const int64_t nanos = absl::ToUnixNanos(info.loaded_at);
  response->mutable_loaded_at()->set_seconds(nanos / 1000000000);
  response->mutable_loaded_at()->set_nanos(static_cast<int32_t>(nanos % 1000000000));
  response->set_age_seconds(absl::ToDoubleSeconds(since));
  response->set_source(info.source);
  response->set_namespaces(static_cast<uint32_t>(info.namespaces));
  response->set_pods(static_cast<uint32_t>(info.pods));
  response->set_policies(static_cast<uint32_t>(info.policies));
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
