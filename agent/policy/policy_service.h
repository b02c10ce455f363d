#pragma once

#include "agent/policy/snapshot_policy_gate.h"
#include "probesnat/v1/probesnat.grpc.pb.h"

namespace probesnat::policy {

// probesnat.v1.Policy: ReplaceSnapshot loads manifests into `gate` (all or nothing: a manifest
// that is not YAML/JSON is INVALID_ARGUMENT and the old snapshot stays; invalid objects are
// skipped and listed in `problems`); Check is the gate's dry run; GetSnapshotStatus says whether a
// snapshot is loaded, since when and from whom. `policy_mode` is the agent's --policy-mode, which
// GetSnapshotStatus reports.
class PolicyServiceImpl final : public v1::Policy::Service {
 public:
  explicit PolicyServiceImpl(SnapshotPolicyGate* gate,
                             v1::PolicyMode policy_mode = v1::POLICY_MODE_UNSPECIFIED)
      : gate_(gate), policy_mode_(policy_mode) {}

  grpc::Status ReplaceSnapshot(grpc::ServerContext* context,
                               const v1::ReplacePolicySnapshotRequest* request,
                               v1::ReplacePolicySnapshotResponse* response) override;
  grpc::Status Check(grpc::ServerContext* context, const v1::CheckRequest* request,
                     v1::CheckResponse* response) override;
  grpc::Status GetSnapshotStatus(grpc::ServerContext* context,
                                 const v1::GetPolicySnapshotStatusRequest* request,
                                 v1::PolicySnapshotStatus* response) override;

 private:
  SnapshotPolicyGate* gate_;
  const v1::PolicyMode policy_mode_;
};

}  // namespace probesnat::policy
